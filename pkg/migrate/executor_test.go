package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

const valueSize = 64

func TestMoveSlotsToNewMaster(t *testing.T) {
	tc := startWithEmptyMaster(t, 3, 3)
	const nkeys = 20000
	tc.Load(t, nkeys, valueSize)
	p := tc.handPlan(t, 4096, 512)
	if CheckFresh(tc.observe(t), p) != nil {
		t.Fatal("fresh plan reported stale")
	}
	var moved []cluster.Range
	for _, m := range p.Moves {
		moved = append(moved, m.Range)
	}
	want := keysIn(nkeys, moved...)

	var status bytes.Buffer
	var events []Progress // OnProgress runs on the status goroutine, which Run waits for
	e := New(tc.pool, Options{Status: &status, StatusInterval: 50 * time.Millisecond, OnProgress: func(p Progress) { events = append(events, p) }})
	g := &fakeGate{}
	start := time.Now()
	res, err := e.Run(context.Background(), p, g)
	el := time.Since(start)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("moved %d slots, %d keys in %v (%s)", res.Slots, res.Keys, el, describe(p))
	if !res.Done || res.BatchesRemaining != 0 || res.Slots != 4096 || res.Keys != want || len(res.Batches) != len(p.Batches) {
		t.Fatalf("result = done %v remaining %d slots %d keys %d (want %d) batches %d", res.Done, res.BatchesRemaining, res.Slots, res.Keys, want, len(res.Batches))
	}
	if res.Bytes <= res.Keys*valueSize {
		t.Errorf("bytes %d not measured (keys %d)", res.Bytes, res.Keys)
	}
	if g.waits != len(p.Batches) {
		t.Errorf("gate waited %d times, want once per batch (%d)", g.waits, len(p.Batches))
	}
	tc.waitAgreed(t)
	tc.assertNoOpenSlots(t)
	if n := tc.slotsOwnedBy(t, tc.newID); n != 4096 {
		t.Errorf("new master owns %d slots, want 4096", n)
	}
	if n, err := tc.pool.Client(tc.newAddr).DBSize(context.Background()).Result(); err != nil || n != want {
		t.Errorf("new master DBSIZE = %d, %v; want %d", n, err, want)
	}
	tc.CheckKeys(t, nkeys, valueSize)
	tc.RedisCLICheck(t)
	if CheckFresh(tc.observe(t), p) == nil {
		t.Error("plan still fresh after it ran")
	} else if !errors.Is(CheckFresh(tc.observe(t), p), ErrPlanStale) {
		t.Error("CheckFresh error is not ErrPlanStale")
	}
	last := strings.TrimSpace(status.String())
	last = last[strings.LastIndex(last, "\n")+1:]
	if !strings.HasPrefix(last, fmt.Sprintf("batch %d/%d · slots 4096/4096 · keys ", len(p.Batches), len(p.Batches))) || !strings.HasSuffix(last, "gates green") {
		t.Errorf("last status line = %q", last)
	}
	// The progress events come from the same snapshots as the status lines.
	if len(events) == 0 {
		t.Fatal("no progress event")
	}
	if lines := strings.Split(strings.TrimSpace(status.String()), "\n"); len(events) != len(lines) || events[len(events)-1].String() != last {
		t.Errorf("%d progress events for %d status lines; last event %+v", len(events), len(lines), events[len(events)-1])
	}
	if ev := events[len(events)-1]; ev.Slots != res.Slots || ev.SlotsTotal != 4096 || ev.Keys != res.Keys || ev.Batch != len(p.Batches) {
		t.Errorf("last progress event %+v, result: %d slots, %d keys", ev, res.Slots, res.Keys)
	}

	// Running the same plan again moves nothing: every slot is already there.
	res, err = e.Run(context.Background(), p, nil)
	if err != nil || res.Slots != 0 || res.Skipped != 4096 || !res.Done {
		t.Errorf("rerun: slots %d skipped %d done %v err %v", res.Slots, res.Skipped, res.Done, err)
	}
}

func TestBusyKeySourceWins(t *testing.T) {
	tc := startWithEmptyMaster(t, 3, 0)
	ctx := context.Background()
	const nkeys = 200
	tc.Load(t, nkeys, valueSize)
	key := sandboxtest.Key(7)
	slot := cluster.KeySlot(key)
	owner := tc.ownerOf(t, slot)
	var srcIdx int
	for i, a := range tc.Addrs() {
		if tc.observe(t).Nodes[a].ID == owner {
			srcIdx = i
		}
	}
	// A stale copy on the target, written while the slot is importing.
	tgt := tc.pool.Client(tc.newAddr)
	if err := tgt.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", owner).Err(); err != nil {
		t.Fatal(err)
	}
	pipe := tgt.Pipeline()
	pipe.Do(ctx, "ASKING")
	set := pipe.Set(ctx, key, "stale-target-copy", 0)
	if _, err := pipe.Exec(ctx); err != nil || set.Err() != nil {
		t.Fatalf("write on importing target: %v %v", err, set.Err())
	}
	p := tc.rangePlan(t, srcIdx, cluster.Range{Start: slot, End: slot}, 1)
	res, err := New(tc.pool, Options{}).Run(ctx, p, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Replaced != 1 {
		t.Errorf("Replaced = %d, want 1", res.Replaced)
	}
	if res.Keys != keysIn(nkeys, cluster.Range{Start: slot, End: slot}) {
		t.Errorf("keys = %d", res.Keys)
	}
	tc.assertNoOpenSlots(t)
	tc.waitAgreed(t)
	tc.CheckKeys(t, nkeys, valueSize) // includes key:7 == its source value
}

func TestAbortFileStopsAtSlotBoundary(t *testing.T) {
	tc := startWithEmptyMaster(t, 3, 0)
	const nkeys = 5000
	tc.Load(t, nkeys, valueSize)
	dir := t.TempDir()
	abort := filepath.Join(dir, "abort")
	p := tc.rangePlan(t, 0, cluster.Range{Start: 0, End: 2999}, 1000)
	var closed atomic.Int64
	e := New(tc.pool, Options{AbortFile: abort, SlotsInFlight: 16, BeforeStep: func(step string, slot int) error {
		if step == StepNodeOthers && closed.Add(1) == 100 {
			if err := os.WriteFile(abort, nil, 0o600); err != nil {
				t.Error(err)
			}
		}
		return nil
	}})
	res, err := e.Run(context.Background(), p, nil)
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("err = %v, want ErrAborted", err)
	}
	if res.Slots < 100 || res.Slots >= 1000 || res.Done || res.BatchesRemaining != 3 {
		t.Fatalf("slots %d done %v remaining %d", res.Slots, res.Done, res.BatchesRemaining)
	}
	if b := res.Batches[len(res.Batches)-1]; b.State != BatchStopped || !errors.Is(b.Err, ErrAborted) || b.Slots != res.Slots {
		t.Errorf("aborted batch %d: %s, %d slots: %v", b.Number, b.State, b.Slots, b.Err)
	}
	tc.assertNoOpenSlots(t)
	tc.waitAgreed(t)
	if n := tc.slotsOwnedBy(t, tc.newID); n != res.Slots {
		t.Errorf("new master owns %d slots, result says %d", n, res.Slots)
	}
	tc.CheckKeys(t, nkeys, valueSize)

	// Gates: a hold timeout before a batch is ErrHeld and moves nothing; an
	// abort verdict sampled during a batch stops at a slot boundary.
	if err := os.Remove(abort); err != nil {
		t.Fatal(err)
	}
	before := tc.slotsOwnedBy(t, tc.newID)
	held := &fakeGate{waitErr: gate.ErrHoldTimeout, waitD: gate.Decision{Verdict: gate.Hold, Reasons: []string{"latency_p99 27.1ms on x > hold 20ms"}}}
	res, err = New(tc.pool, Options{}).Run(context.Background(), p, held)
	if !errors.Is(err, ErrHeld) || res.Slots != 0 || !strings.Contains(err.Error(), "latency_p99 27.1ms") {
		t.Fatalf("held run: slots %d err %v", res.Slots, err)
	}
	g := &fakeGate{}
	var n atomic.Int64
	e = New(tc.pool, Options{SlotsInFlight: 8, BeforeStep: func(step string, slot int) error {
		if step == StepImporting && n.Add(1) == 50 {
			g.setCurrent(gate.Decision{Verdict: gate.Abort, Reasons: []string{"cpu 99% on x > abort 95%"}})
		}
		return nil
	}})
	res, err = e.Run(context.Background(), p, g)
	if !errors.Is(err, ErrAborted) || !strings.Contains(err.Error(), "cpu 99%") {
		t.Fatalf("gate abort: %v", err)
	}
	if res.Slots == 0 || res.Skipped != before {
		t.Errorf("gate abort moved %d slots, skipped %d (want %d)", res.Slots, res.Skipped, before)
	}
	tc.assertNoOpenSlots(t)
	tc.waitAgreed(t)
	tc.CheckKeys(t, nkeys, valueSize)
}

func TestMaxBatchesAndCancel(t *testing.T) {
	tc := startWithEmptyMaster(t, 3, 0)
	const nkeys = 5000
	tc.Load(t, nkeys, valueSize)
	p := tc.handPlan(t, 1200, 100)
	res, err := New(tc.pool, Options{MaxBatches: 1}).Run(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Batches) != 1 || res.Slots != p.Batches[0].Slots() || res.Done || res.BatchesRemaining != len(p.Batches)-1 {
		t.Fatalf("batches %d slots %d done %v remaining %d", len(res.Batches), res.Slots, res.Done, res.BatchesRemaining)
	}
	tc.waitAgreed(t)
	if n := tc.slotsOwnedBy(t, tc.newID); n != p.Batches[0].Slots() {
		t.Errorf("new master owns %d slots, want %d", n, p.Batches[0].Slots())
	}

	// Cancelling the context stops at a slot boundary, quickly.
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	var cancelled time.Time
	e := New(tc.pool, Options{SlotsInFlight: 4, BeforeStep: func(step string, slot int) error {
		if step == StepMigrating && n.Add(1) == 20 {
			cancelled = time.Now()
			cancel()
		}
		return nil
	}})
	res, err = e.Run(ctx, p, nil)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
	if d := time.Since(cancelled); d > 2*time.Second {
		t.Errorf("stopping took %v after cancel", d)
	}
	tc.assertNoOpenSlots(t)
	tc.waitAgreed(t)
	tc.CheckKeys(t, nkeys, valueSize)
}

func TestBigKeyHolds(t *testing.T) {
	tc := startWithEmptyMaster(t, 3, 0)
	ctx := context.Background()
	const nkeys = 2000
	tc.Load(t, nkeys, valueSize)
	big := "big{" + sandboxtest.Key(3) + "}"
	if err := tc.ClusterClient().Set(ctx, big, strings.Repeat("x", 200_000), 0).Err(); err != nil {
		t.Fatal(err)
	}
	slot := cluster.KeySlot(big)
	var srcIdx int
	for i, a := range tc.Addrs() {
		if tc.observe(t).Nodes[a].ID == tc.ownerOf(t, slot) {
			srcIdx = i
		}
	}
	p := tc.rangePlan(t, srcIdx, cluster.Range{Start: max(slot-20, 0), End: slot + 20}, 100)
	res, err := New(tc.pool, Options{BigKeyBytes: 100_000, SlotsInFlight: 8}).Run(ctx, p, nil)
	var bk *ErrBigKey
	if !errors.As(err, &bk) || !errors.Is(err, ErrHeld) || bk.Key != big || bk.Slot != slot || bk.Bytes <= 100_000 {
		t.Fatalf("err = %v, want ErrBigKey for %s", err, big)
	}
	if n := len(res.Batches); n != 1 || res.Batches[0].State != BatchHeld || !errors.As(res.Batches[0].Err, &bk) {
		t.Errorf("batches %+v, want one held on the big key", res.Batches)
	}
	// Groups already in flight may finish; the big key's slot never opens.
	if res.Slots >= p.Moves[0].Range.Len() || res.Done {
		t.Errorf("moved %d slots (done %v); the big key's slot must not move", res.Slots, res.Done)
	}
	tc.assertNoOpenSlots(t)
	if tc.ownerOf(t, slot) == tc.newID {
		t.Error("big key's slot moved")
	}
	tc.waitAgreed(t)
	tc.CheckKeys(t, nkeys, valueSize)
}

func TestStatusLine(t *testing.T) {
	p := Progress{Batch: 7, Batches: 41, Slots: 700, SlotsTotal: 4096, Keys: 172_400, KeysPerSec: 9_800, ETA: 150 * time.Second, Gates: "green"}
	if got, want := p.String(), "batch 7/41 · slots 700/4096 · keys 172k · 9.8k keys/s · ETA 3m · gates green"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	p = Progress{Batch: 1, Batches: 2, SlotsTotal: 10, Keys: 1_250_000, KeysPerSec: 12, ETA: -1, Gates: "hold: cpu 80% on a > hold 70%"}
	if got, want := p.String(), "batch 1/2 · slots 0/10 · keys 1.2M · 12 keys/s · ETA ? · gates hold: cpu 80% on a > hold 70%"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	p.Pace = &PaceStatus{Addr: "a", Level: 0.42, Keys: 100, Depth: 2, BudgetUsed: 0.634}
	if got, want := p.String(), "batch 1/2 · slots 0/10 · keys 1.2M · 12 keys/s · ETA ? · gates hold: cpu 80% on a > hold 70% · pace 0.42 (100 keys/MIGRATE, 63% of budget)"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	p.Pace.Exhausted, p.Pace.Level, p.Pace.BudgetUsed = true, 0.004, 1.5
	if got, want := p.String(), "batch 1/2 · slots 0/10 · keys 1.2M · 12 keys/s · ETA ? · gates hold: cpu 80% on a > hold 70% · pace 0.00 exhausted (100 keys/MIGRATE, 150% of budget)"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := fmtETA(3*time.Hour + 5*time.Minute); got != "3h5m" {
		t.Errorf("fmtETA = %q", got)
	}
	if got := fmtETA(1500 * time.Millisecond); got != "2s" {
		t.Errorf("fmtETA = %q", got)
	}
}
