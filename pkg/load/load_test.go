package load

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// newCluster starts a 3-master cluster (no replicas) for one test.
func newCluster(t *testing.T) *sandboxtest.Cluster {
	t.Helper()
	c := sandboxtest.Start(t, 3, sandboxtest.Options{})
	c.Form(t, 3)
	return c
}

func opts(c *sandboxtest.Cluster) Options {
	return Options{Seeds: c.Addrs(), Password: c.Password, Duration: 10 * time.Second}
}

// countKeys counts the keys under prefix on every master.
func countKeys(t *testing.T, c *sandboxtest.Cluster, prefix string) int {
	t.Helper()
	n := 0
	for i := range c.Nodes {
		keys, err := c.Client(i).Keys(context.Background(), prefix+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		n += len(keys)
	}
	return n
}

func TestRunHealthyClusterLosesNothing(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	o := opts(c)
	o.Duration, o.Rate, o.Clients, o.Keys = 2*time.Second, 1500, 4, 2000
	o.ValueMin, o.ValueMax, o.ReadPercent = 16, 256, 50
	start := time.Now()
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	g.Start(context.Background())
	// A mark half-way splits the run into two spans.
	time.Sleep(time.Second)
	g.Mark()
	<-g.Done()
	res, err := g.Stop()
	if err != nil {
		t.Fatal(err)
	}
	g.Mark() // after Stop: nothing
	t.Logf("TIMING run of %s: %d ops (%d acked writes), p50 %s p99 %s max %s, read-back of %d keys in %s, total %s",
		res.Elapsed.Round(time.Millisecond), res.Ops, res.WritesAcked, res.Latency.P50, res.Latency.P99, res.Latency.Max,
		res.Verify.Keys, res.Verify.Elapsed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	// In-flight operations finish after the 2 s: allow for a loaded machine.
	if res.Elapsed < 1900*time.Millisecond || res.Elapsed > 5*time.Second {
		t.Errorf("load phase took %s, want about 2s", res.Elapsed)
	}
	if res.Reads == 0 || res.WritesAcked == 0 || res.Ops != res.Reads+res.Writes {
		t.Fatalf("ops %d = reads %d + writes %d (%d acked)", res.Ops, res.Reads, res.Writes, res.WritesAcked)
	}
	// The rate bounds the run: 1500 ops/s for 2 s, with slack for pacing.
	if res.Ops > 3300 {
		t.Errorf("%d ops in 2s at 1500 ops/s", res.Ops)
	}
	if v := res.Verify; v.Lost != 0 || v.Stale != 0 || v.Foreign != 0 || v.Unverified != 0 || v.ReadsMissing != 0 || v.ReadsStale != 0 {
		t.Errorf("healthy cluster: %+v", v)
	}
	if res.ErrorCount() != 0 || res.WritesUnknown != 0 {
		t.Errorf("errors %v, %d unknown writes", res.Errors, res.WritesUnknown)
	}
	if res.Verify.Keys == 0 || int64(res.Verify.Keys) > res.WritesAcked || res.Verify.Keys > o.Keys {
		t.Errorf("%d keys read back after %d acknowledged writes", res.Verify.Keys, res.WritesAcked)
	}
	l := res.Latency
	if l.Count != res.Ops || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max || l.P99 > 2*time.Second {
		t.Errorf("latency %+v over %d ops", l, res.Ops)
	}
	a, b := res.Spans.Latency(0), res.Spans.Latency(1)
	if res.Spans.Len() != 2 || a.Count == 0 || b.Count == 0 || a.Count+b.Count != res.Ops || res.Spans.Latency(0, 1) != l {
		t.Errorf("%d spans: %+v and %+v, together %+v; want 2 that share the run's %d ops, together %+v", res.Spans.Len(), a, b, res.Spans.Latency(0, 1), res.Ops, l)
	}
	var sum int64
	for i, s := range res.Seconds {
		sum += s.Ops
		if s.Second != i || (s.Ops > 0 && (s.Latency.P50 <= 0 || s.Latency.Max < s.Latency.P99)) {
			t.Errorf("second %d: %+v", i, s)
		}
	}
	full := int(res.Elapsed / time.Second) // and maybe a last, partial one
	if len(res.Seconds) < full || len(res.Seconds) > full+1 || sum != res.Ops {
		t.Errorf("%d seconds with %d ops in all after %s, want %d or %d seconds and %d ops", len(res.Seconds), sum, res.Elapsed, full, full+1, res.Ops)
	}
	if n := countKeys(t, c, o.Prefix); n != 0 {
		t.Errorf("%d keys left after the run", n)
	}
	if res.Options.Password != "" || res.Options.Keys != o.Keys {
		t.Errorf("result options: password kept, or keys %d", res.Options.Keys)
	}
}

// TestLostWritesAreCounted deletes acknowledged keys behind the
// generator's back — every key of one master (FLUSHALL) and a few more —
// and expects exactly those to be reported lost.
func TestLostWritesAreCounted(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	o := opts(c)
	o.MaxOps, o.Clients, o.Keys, o.KeepKeys = 3000, 4, 1000, true
	want := 0
	var deleted []string
	o.BeforeVerify = func(ctx context.Context, acked []string) error {
		slots, err := c.Client(0).ClusterSlots(ctx).Result()
		if err != nil {
			return err
		}
		var own cluster.SlotSet
		for _, s := range slots {
			if s.Nodes[0].Addr == c.Nodes[0].Addr {
				own.AddRange(cluster.Range{Start: int(s.Start), End: int(s.End)})
			}
		}
		for _, k := range acked {
			if own.Has(cluster.KeySlot(k)) {
				want++
			} else if len(deleted) < 5 {
				deleted = append(deleted, k)
			}
		}
		if err := c.Client(0).FlushAll(ctx).Err(); err != nil {
			return err
		}
		want += len(deleted)
		for _, k := range deleted {
			if err := c.ClusterClient().Del(ctx, k).Err(); err != nil {
				return err
			}
		}
		return nil
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if want < 10 || len(deleted) != 5 {
		t.Fatalf("only %d acknowledged keys to lose (%d deleted one by one)", want, len(deleted))
	}
	if res.Verify.Lost != want || res.Verify.Stale != 0 || res.Verify.Foreign != 0 {
		t.Errorf("lost %d, stale %d, foreign %d; want %d lost", res.Verify.Lost, res.Verify.Stale, res.Verify.Foreign, want)
	}
	if len(res.Verify.LostKeys) != sampleKeys {
		t.Errorf("%d lost keys named, want the first %d", len(res.Verify.LostKeys), sampleKeys)
	}
	for _, k := range deleted {
		if res.Verify.Lost < sampleKeys+5 && !slices.Contains(res.Verify.LostKeys, k) {
			t.Errorf("deleted key %s not named lost", k)
		}
	}
	if n := countKeys(t, c, o.Prefix); n != res.Verify.Keys-want {
		t.Errorf("KeepKeys: %d keys left, want %d", n, res.Verify.Keys-want)
	}
}

// TestStaleValuesAreCounted puts older values (and one value from no
// write at all) behind acknowledged keys, and one value of a write whose
// outcome was unknown, which is not stale.
func TestStaleValuesAreCounted(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	o := opts(c)
	o.MaxOps, o.Clients, o.Keys = 3000, 3, 150 // about 20 writes per key
	var g *Generator
	var stale []string
	var unknownKey string
	o.BeforeVerify = func(ctx context.Context, acked []string) error {
		cc := c.ClusterClient()
		for i := range o.Keys {
			st := &g.state[i%o.Clients][i/o.Clients]
			k := g.key(i)
			switch {
			case st.acked < 2:
				continue
			case len(stale) < 3:
				stale = append(stale, k)
				if err := cc.Set(ctx, k, g.codec.value(i, st.acked-1), 0).Err(); err != nil {
					return err
				}
			case len(stale) == 3:
				stale = append(stale, k)
				if err := cc.Set(ctx, k, "not written by this run", 0).Err(); err != nil {
					return err
				}
			case unknownKey == "":
				// As if the next write had timed out, yet been applied.
				unknownKey = k
				st.attempted = st.acked + 1
				if err := cc.Set(ctx, k, g.codec.value(i, st.attempted), 0).Err(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	g.Start(context.Background())
	<-g.Done()
	res, err := g.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if unknownKey == "" {
		t.Fatalf("not enough keys written twice: %+v", res.Verify)
	}
	v := res.Verify
	if v.Stale != 3 || v.Foreign != 1 || v.Lost != 0 || v.UnknownApplied != 1 || v.Unknown != 1 {
		t.Errorf("stale %d foreign %d lost %d unknown %d (applied %d); want 3, 1, 0, 1 (1)", v.Stale, v.Foreign, v.Lost, v.Unknown, v.UnknownApplied)
	}
	if !slices.Equal(v.StaleKeys, stale) {
		t.Errorf("stale keys %v, want %v", v.StaleKeys, stale)
	}
	if again, err := g.Stop(); err != nil || again.Verify.Stale != v.Stale {
		t.Errorf("a second Stop: %v, %+v", err, again.Verify)
	}
}

// TestStopEndsTheRunEarly: Stop before Duration ends the load at once and
// still reads back.
func TestStopEndsTheRunEarly(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	o := opts(c)
	o.Duration, o.Rate, o.Keys = time.Minute, 500, 100
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g.Start(ctx)
	time.Sleep(500 * time.Millisecond)
	cancel() // as a signal would: the read-back still runs
	start := time.Now()
	res, err := g.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second || res.Elapsed > 4*time.Second {
		t.Errorf("Stop took %s after a load phase of %s", took, res.Elapsed)
	}
	if res.Ops == 0 || res.Verify.Keys == 0 || res.Verify.Lost != 0 || res.Verify.Unverified != 0 {
		t.Errorf("ops %d, verify %+v", res.Ops, res.Verify)
	}
}

// TestTimedOutWritesAreUnknownNotLost pauses one master's writes for
// longer than the read timeout: its writes time out (their outcome is
// unknown; Redis applies them when the pause ends, or drops them with the
// closed connection), and none of it may count as lost or stale.
func TestTimedOutWritesAreUnknownNotLost(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	o := opts(c)
	o.Duration, o.Rate, o.Clients, o.Keys = 3*time.Second, 1000, 4, 300
	o.ReadTimeout, o.ReadPercent = 300*time.Millisecond, 20
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	g.Start(context.Background())
	time.Sleep(500 * time.Millisecond)
	if err := c.Client(0).Do(context.Background(), "CLIENT", "PAUSE", 1500, "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	<-g.Done()
	res, err := g.Stop()
	if err != nil {
		t.Fatal(err)
	}
	v := res.Verify
	t.Logf("%d writes, %d unknown; errors %v; verify %+v", res.Writes, res.WritesUnknown, res.Errors, v)
	if res.WritesUnknown == 0 || res.Errors[KindTimeout] == 0 {
		t.Fatalf("no write timed out during a 1.5s pause: %d unknown, errors %v", res.WritesUnknown, res.Errors)
	}
	if v.Lost != 0 || v.Stale != 0 || v.Foreign != 0 || v.Unverified != 0 || v.ReadsMissing != 0 || v.ReadsStale != 0 {
		t.Errorf("timeouts miscounted: %+v", v)
	}
	if res.Latency.Max < o.ReadTimeout {
		t.Errorf("max latency %s under the read timeout", res.Latency.Max)
	}
}

// TestMigrationRedirectsAreNotErrors moves slots holding load keys from
// one master to another with the real protocol (SETSLOT IMPORTING and
// MIGRATING, MIGRATE, SETSLOT NODE) during a run: the client follows ASK
// and MOVED, and none of it is an error.
func TestMigrationRedirectsAreNotErrors(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	o := opts(c)
	o.Duration, o.Rate, o.Clients, o.Keys = 3*time.Second, 2000, 4, 32
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	g.Start(context.Background())
	time.Sleep(500 * time.Millisecond)
	slots := map[int]bool{}
	for i := range 4 {
		slots[cluster.KeySlot(g.key(i))] = true
	}
	for slot := range slots {
		moveSlot(t, c, slot)
	}
	<-g.Done()
	res, err := g.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d ops, %d MOVED and %d ASK followed, errors %v", res.Ops, res.Moved, res.Ask, res.Errors)
	if res.Moved+res.Ask == 0 {
		t.Error("no redirect seen: the slots did not move under the load")
	}
	// Each operation that met a redirect is left out of the direct
	// latency; one operation may meet several.
	all, direct := res.Spans.Latency(0), res.Spans.Direct(0)
	if n := all.Count - direct.Count; n < 1 || n > res.Moved+res.Ask {
		t.Errorf("%d of %d operations redirected, with %d MOVED and %d ASK followed: want 1 to %d", n, all.Count, res.Moved, res.Ask, res.Moved+res.Ask)
	}
	if res.ErrorCount() != 0 || res.WritesUnknown != 0 {
		t.Errorf("redirects counted as errors: %v, %d unknown writes", res.Errors, res.WritesUnknown)
	}
	if v := res.Verify; v.Lost != 0 || v.Stale != 0 || v.Foreign != 0 || v.ReadsMissing != 0 || v.ReadsStale != 0 {
		t.Errorf("verify after migration: %+v", v)
	}
}

// moveSlot moves slot from its owner to the next master with the legacy
// protocol, keeping it open for a moment at each step so that the load sees
// ASK (keys already moved) and then MOVED (a stale slot map).
func moveSlot(t *testing.T, c *sandboxtest.Cluster, slot int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids := make([]string, len(c.Nodes))
	src := -1
	for i := range c.Nodes {
		id, err := c.Client(i).Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
		n, err := c.Client(i).ClusterCountKeysInSlot(ctx, slot).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			src = i
		}
	}
	if src < 0 {
		t.Fatalf("slot %d holds no key", slot)
	}
	dst := (src + 1) % len(c.Nodes)
	do := func(i int, args ...any) {
		t.Helper()
		if err := c.Client(i).Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v on %s: %v", args, c.Nodes[i].Addr, err)
		}
	}
	do(dst, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[src])
	do(src, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[dst])
	keys, err := c.Client(src).ClusterGetKeysInSlot(ctx, slot, 100).Result()
	if err != nil {
		t.Fatal(err)
	}
	args := []any{"MIGRATE", "127.0.0.1", strconv.Itoa(c.Nodes[dst].Port), "", 0, 5000, "AUTH", c.Password, "KEYS"}
	for _, k := range keys {
		args = append(args, k)
	}
	do(src, args...)
	time.Sleep(300 * time.Millisecond) // ASK for the moved keys
	do(dst, "CLUSTER", "SETSLOT", slot, "NODE", ids[dst])
	do(src, "CLUSTER", "SETSLOT", slot, "NODE", ids[dst])
	for i := range c.Nodes {
		if i != src && i != dst {
			do(i, "CLUSTER", "SETSLOT", slot, "NODE", ids[dst])
		}
	}
	time.Sleep(200 * time.Millisecond)
}

func TestOptionsErrorsNameEverySetting(t *testing.T) {
	err := Options{Keys: 2, Clients: 3, ReadPercent: -1}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"seed", "clients 3 > keys 2", "read percent -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New accepted no seeds")
	}
	g, err := New(Options{Seeds: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Stop(); err == nil || !strings.Contains(fmt.Sprint(err), "before Start") {
		t.Errorf("Stop before Start: %v", err)
	}
}
