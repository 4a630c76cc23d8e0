package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/slotshift/slotshift/pkg/cluster"
)

var (
	nS = Endpoint{ID: strings.Repeat("a", 40), Addr: "127.0.0.1:7000"}
	nT = Endpoint{ID: strings.Repeat("b", 40), Addr: "127.0.0.1:7001"}
	nX = Endpoint{ID: strings.Repeat("c", 40), Addr: "127.0.0.1:7002"}
)

func TestResolve(t *testing.T) {
	mig := func(n, p Endpoint) []Marker { return []Marker{{Node: n, Peer: p}} }
	tests := []struct {
		name         string
		open         OpenSlot
		ks, kt       int64
		kind         ActionKind
		reimp, remig bool
	}{
		{"both open, keys on source", OpenSlot{Migrating: mig(nS, nT), Importing: mig(nT, nS), Claims: []string{nS.ID}}, 5, 3, Finish, false, false},
		{"both open, no keys", OpenSlot{Migrating: mig(nS, nT), Importing: mig(nT, nS), Claims: []string{nS.ID}}, 0, 0, Finish, false, false},
		{"both open, crossed peers", OpenSlot{Migrating: mig(nS, nT), Importing: mig(nT, nX), Claims: []string{nS.ID}}, 0, 0, Manual, false, false},
		{"importing only, no key on target", OpenSlot{Importing: mig(nT, nS), Claims: []string{nS.ID}}, 9, 0, StableTarget, false, false},
		{"importing only, keys on target", OpenSlot{Importing: mig(nT, nS), Claims: []string{nS.ID}}, 9, 2, Finish, false, true},
		{"importing only, source gave the slot away, no keys", OpenSlot{Importing: mig(nT, nS)}, 0, 4, Finish, false, false},
		{"importing only, source gave it away but holds keys", OpenSlot{Importing: mig(nT, nS)}, 3, 0, Manual, false, false},
		{"importing only, third owner", OpenSlot{Importing: mig(nT, nS), Claims: []string{nX.ID}}, 0, 0, Manual, false, false},
		{"migrating only, no keys anywhere", OpenSlot{Migrating: mig(nS, nT), Claims: []string{nS.ID}}, 0, 0, StableSource, false, false},
		{"migrating only, keys on source only", OpenSlot{Migrating: mig(nS, nT), Claims: []string{nS.ID}}, 4, 0, StableSource, false, false},
		{"migrating only, keys on target", OpenSlot{Migrating: mig(nS, nT), Claims: []string{nS.ID}}, 0, 4, Finish, true, false},
		{"NODE sent to target, not source", OpenSlot{Migrating: mig(nS, nT), Claims: []string{nS.ID, nT.ID}}, 0, 7, Finish, false, false},
		{"migrating to unknown node", OpenSlot{Migrating: mig(nS, Endpoint{ID: nX.ID}), Claims: []string{nS.ID}}, 0, 0, Manual, false, false},
		{"two importers", OpenSlot{Importing: append(mig(nT, nS), mig(nX, nS)...), Claims: []string{nS.ID}}, 0, 0, Manual, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.open.Slot = 42
			a := Resolve(tt.open, tt.ks, tt.kt)
			if a.Kind != tt.kind || a.ReImporting != tt.reimp || a.ReMigrating != tt.remig {
				t.Fatalf("got %+v, want %s reimporting=%v remigrating=%v", a, tt.kind, tt.reimp, tt.remig)
			}
			if a.Kind != Manual && (a.Source != nS || a.Target != nT) {
				t.Errorf("source/target = %v/%v", a.Source, a.Target)
			}
			if a.Reason == "" || a.Slot != 42 {
				t.Errorf("action %+v lacks reason or slot", a)
			}
		})
	}
}

// TestResolveAfterFailover: the target imports from a source that failed
// over, and the source's replica (nX) now owns the slot without a marker.
func TestResolveAfterFailover(t *testing.T) {
	open := OpenSlot{Slot: 7, Importing: []Marker{{Node: nT, Peer: nS}}, Claims: []string{nX.ID}, Owner: nX}
	for _, tt := range []struct {
		name         string
		kt           int64
		kind         ActionKind
		reimp, remig bool
	}{
		{"keys on the target: finish from the new owner", 3, Finish, true, true},
		{"no key on the target: close it there", 0, StableTarget, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := Resolve(open, 5, tt.kt)
			if a.Kind != tt.kind || a.ReImporting != tt.reimp || a.ReMigrating != tt.remig || a.Source != nX || a.Target != nT || !a.Announce {
				t.Errorf("got %+v, want %s from %s to %s (reimporting=%v remigrating=%v), announced", a, tt.kind, nX.Addr, nT.Addr, tt.reimp, tt.remig)
			}
		})
	}
	// Without the owner's address, or with two claimants, a person must look.
	for _, o := range []OpenSlot{
		{Slot: 7, Importing: open.Importing, Claims: []string{nX.ID}, Owner: Endpoint{ID: nX.ID}},
		{Slot: 7, Importing: open.Importing, Claims: []string{nT.ID, nX.ID}},
	} {
		if a := Resolve(o, 0, 3); a.Kind != Manual {
			t.Errorf("%+v: got %s, want manual", o, a.Kind)
		}
	}
}

func TestFindOpen(t *testing.T) {
	line := func(n Endpoint, flags, slots string) string {
		return fmt.Sprintf("%s %s@17000 %s - 0 0 1 connected %s", n.ID, n.Addr, flags, slots)
	}
	obs := func(self Endpoint, lines ...string) *cluster.Observation {
		nodes, err := cluster.ParseNodes(strings.Join(lines, "\n"))
		if err != nil {
			t.Fatal(err)
		}
		return &cluster.Observation{Addr: self.Addr, ID: self.ID, Nodes: nodes}
	}
	snap := &cluster.Snapshot{Nodes: map[string]*cluster.Observation{
		nS.Addr: obs(nS, line(nS, "myself,master", "0-100 [100->-"+nT.ID+"] [7-<-"+nX.ID+"]"), line(nT, "master", "101-200")),
		nT.Addr: obs(nT, line(nT, "myself,master", "101-200 [100-<-"+nS.ID+"]"), line(nS, "master", "0-100 [5->-"+nX.ID+"]")),
		nX.Addr: {Addr: nX.Addr, Err: "connection refused"},
	}}
	open := FindOpen(snap)
	if len(open) != 2 {
		t.Fatalf("open = %+v, want slots 7 and 100 (markers in other nodes' lines are ignored)", open)
	}
	if o := open[0]; o.Slot != 7 || len(o.Importing) != 1 || o.Importing[0].Node != nS || o.Importing[0].Peer.ID != nX.ID || len(o.Claims) != 1 || o.Claims[0] != nS.ID {
		t.Errorf("slot 7 = %+v", o)
	}
	o := open[1]
	if o.Slot != 100 || len(o.Migrating) != 1 || o.Migrating[0].Node != nS || o.Migrating[0].Peer != nT || len(o.Importing) != 1 || o.Importing[0].Node != nT {
		t.Errorf("slot 100 = %+v", o)
	}
	if a := Resolve(o, 1, 0); a.Kind != Finish {
		t.Errorf("slot 100 resolves to %+v", a)
	}
}

// TestCrashAtEveryStepThenRepair stops a run before each protocol step, as a
// SIGKILL would, then repairs and resumes: no key is lost, no slot stays open.
func TestCrashAtEveryStepThenRepair(t *testing.T) {
	tc := startWithEmptyMaster(t, 3, 0)
	const nkeys = 20000
	tc.Load(t, nkeys, valueSize)
	ctx := context.Background()
	steps := []string{StepImporting, StepMigrating, StepKeys, StepNodeTarget, StepNodeSource, StepNodeOthers}
	for i, step := range steps {
		t.Run(step, func(t *testing.T) {
			r := cluster.Range{Start: i * 200, End: i*200 + 199}
			p := tc.rangePlan(t, 0, r, 200)
			crash := errors.New("simulated crash")
			var seen atomic.Int64
			e := New(tc.pool, Options{SlotsInFlight: 32, BeforeStep: func(s string, slot int) error {
				if s == step {
					if seen.Add(1) == 40 { // in the second group, mid-pipeline
						return crash
					}
				}
				return nil
			}})
			_, err := e.Run(ctx, p, nil)
			var se *StepError
			if !errors.As(err, &se) || !errors.Is(err, crash) || se.Step != step {
				t.Fatalf("err = %v, want the simulated crash at %s", err, step)
			}
			snap := tc.observe(t)
			open := FindOpen(snap)
			if step != StepNodeOthers && len(open) == 0 {
				t.Fatalf("a crash before %s left no open slot: the test does not test anything", step)
			}
			repaired, err := Repair(ctx, tc.pool, snap)
			if err != nil {
				t.Fatalf("Repair: %v", err)
			}
			if len(repaired) != len(open) {
				t.Errorf("repaired %v, open were %+v", repaired, open)
			}
			tc.assertNoOpenSlots(t)
			res, err := New(tc.pool, Options{}).Run(ctx, p, nil)
			if err != nil || !res.Done {
				t.Fatalf("resume: %v (done %v)", err, res.Done)
			}
			tc.waitAgreed(t)
			tc.assertNoOpenSlots(t)
			for s := r.Start; s <= r.End; s++ {
				if o := tc.ownerOf(t, s); o != tc.newID {
					t.Fatalf("slot %d owned by %s after resume", s, o)
				}
			}
			tc.CheckKeys(t, nkeys, valueSize)
		})
	}
	tc.RedisCLICheck(t)
}

// TestRepairHandMadeCases builds open slots by hand with SETSLOT and MIGRATE
// and checks Repair closes each without losing a key.
func TestRepairHandMadeCases(t *testing.T) {
	tc := startWithEmptyMaster(t, 3, 0)
	const nkeys = 20000
	tc.Load(t, nkeys, valueSize)
	ctx := context.Background()
	src := tc.pool.Client(tc.Addrs()[0])
	dst := tc.pool.Client(tc.newAddr)
	srcID := tc.observe(t).Nodes[tc.Addrs()[0]].ID
	owners := tc.observe(t).Owners()
	// slotWithKeys finds a slot of master 0, from "from" on, holding keys.
	slotWithKeys := func(from int) (int, []string) {
		for s := from; s < cluster.NumSlots; s++ {
			if owners[s] != srcID {
				continue
			}
			ks, err := src.ClusterGetKeysInSlot(ctx, s, 100).Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(ks) >= 2 {
				return s, ks
			}
		}
		t.Fatal("no slot with keys")
		return 0, nil
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	migrateOne := func(slot int, key string) {
		t.Helper()
		host, port := "127.0.0.1", strings.Split(tc.newAddr, ":")[1]
		must(src.Do(ctx, "MIGRATE", host, port, "", 0, 5000, "AUTH", tc.Password, "KEYS", key).Err())
	}
	type hand struct {
		name  string
		setup func(slot int, keys []string)
		owner string // expected owner after repair: "src" or "dst"
	}
	cases := []hand{
		{"target lost importing after a key moved", func(s int, ks []string) {
			must(dst.Do(ctx, "CLUSTER", "SETSLOT", s, "IMPORTING", srcID).Err())
			must(src.Do(ctx, "CLUSTER", "SETSLOT", s, "MIGRATING", tc.newID).Err())
			migrateOne(s, ks[0])
			must(dst.Do(ctx, "CLUSTER", "SETSLOT", s, "STABLE").Err())
		}, "dst"},
		{"source lost migrating after a key moved", func(s int, ks []string) {
			must(dst.Do(ctx, "CLUSTER", "SETSLOT", s, "IMPORTING", srcID).Err())
			must(src.Do(ctx, "CLUSTER", "SETSLOT", s, "MIGRATING", tc.newID).Err())
			migrateOne(s, ks[0])
			must(src.Do(ctx, "CLUSTER", "SETSLOT", s, "STABLE").Err())
		}, "dst"},
		{"NODE sent to target only", func(s int, ks []string) {
			must(dst.Do(ctx, "CLUSTER", "SETSLOT", s, "IMPORTING", srcID).Err())
			must(src.Do(ctx, "CLUSTER", "SETSLOT", s, "MIGRATING", tc.newID).Err())
			for _, k := range ks {
				migrateOne(s, k)
			}
			must(dst.Do(ctx, "CLUSTER", "SETSLOT", s, "NODE", tc.newID).Err())
		}, "dst"},
		{"importing only, nothing moved", func(s int, ks []string) {
			must(dst.Do(ctx, "CLUSTER", "SETSLOT", s, "IMPORTING", srcID).Err())
		}, "src"},
		{"migrating only, nothing moved", func(s int, ks []string) {
			must(src.Do(ctx, "CLUSTER", "SETSLOT", s, "MIGRATING", tc.newID).Err())
		}, "src"},
	}
	from := 0
	for _, hc := range cases {
		t.Run(hc.name, func(t *testing.T) {
			slot, keys := slotWithKeys(from)
			from = slot + 1
			hc.setup(slot, keys)
			snap := tc.observe(t)
			if len(FindOpen(snap)) != 1 {
				t.Fatalf("setup left %+v open, want slot %d", FindOpen(snap), slot)
			}
			got, err := Repair(ctx, tc.pool, snap)
			if err != nil || len(got) != 1 || got[0] != slot {
				t.Fatalf("Repair = %v, %v", got, err)
			}
			tc.assertNoOpenSlots(t)
			tc.waitAgreed(t)
			want := srcID
			if hc.owner == "dst" {
				want = tc.newID
			}
			if o := tc.ownerOf(t, slot); o != want {
				t.Errorf("slot %d owned by %s, want %s", slot, o, want)
			}
			tc.CheckKeys(t, nkeys, valueSize)
		})
	}
}
