package stage

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/atomicfile"
	"github.com/slotshift/slotshift/pkg/backup"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// realManifest runs the backup stage on the cluster and returns the path of
// the manifest it wrote, failing the test unless the backup passed.
func realManifest(t *testing.T, env Env) string {
	t.Helper()
	res, err := Backup(context.Background(), env, BackupInput{Output: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome() != report.OutcomePass {
		t.Fatalf("backup outcome %s:\n%s", res.Outcome(), checksText(res))
	}
	return res.Outputs["manifest"]
}

// editManifest writes a copy of the manifest at path, changed by edit, as
// name beside it (so that its files are found) and returns the copy's path.
func editManifest(t *testing.T, path, name string, edit func(*backup.Manifest)) string {
	t.Helper()
	m, err := backup.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(m)
	out := filepath.Join(filepath.Dir(path), name)
	if err := atomicfile.WriteJSON(out, m, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// stale makes every entry's save 30 hours old.
func stale(m *backup.Manifest) {
	for i := range m.Entries {
		m.Entries[i].LastSave = m.Entries[i].LastSave.Add(-30 * time.Hour)
	}
}

// dropSlots takes slots 100-199 out of the entry that holds slot 100 and
// returns the range it dropped.
func dropSlots(t *testing.T) func(*backup.Manifest) {
	return func(m *backup.Manifest) {
		for i, e := range m.Entries {
			s := e.SlotSet()
			if !s.Has(100) {
				continue
			}
			for slot := 100; slot < 200; slot++ {
				s.Remove(slot)
			}
			m.Entries[i].Slots = s.Ranges()
			return
		}
		t.Fatal("no entry holds slot 100")
	}
}

// ownedSlots is the slot map as CLUSTER SLOTS on node 0 prints it: each
// master's address and its slots.
func ownedSlots(t *testing.T, c *sandboxtest.Cluster) map[string]cluster.SlotSet {
	t.Helper()
	slots, err := c.Client(0).ClusterSlots(ctxT(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	owned := map[string]cluster.SlotSet{}
	for _, s := range slots {
		set := owned[s.Nodes[0].Addr]
		set.AddRange(cluster.Range{Start: int(s.Start), End: int(s.End)})
		owned[s.Nodes[0].Addr] = set
	}
	return owned
}

// clusterSlots is ownedSlots as text, in node order.
func clusterSlots(t *testing.T, c *sandboxtest.Cluster) string {
	t.Helper()
	owned := ownedSlots(t, c)
	var b strings.Builder
	for _, a := range c.Addrs() {
		if s, ok := owned[a]; ok {
			b.WriteString(a + "=" + s.String() + " ")
		}
	}
	return b.String()
}

// TestBackupGateRebalance: rebalance --require-backup refuses to start on a
// stale manifest or one missing a slot range (nothing moves), and moves
// slots with a good one.
func TestBackupGateRebalance(t *testing.T) {
	needCheckRDB(t)
	c, _ := loadedCross(t, 500)
	// server1 weighs twice the others: the plan moves slots to it.
	inv := parseInv(t, sandboxtest.CrossInventory(ports(c), 3, sandboxtest.InventoryOptions{
		Weights: map[string]string{"server1": "2"}, Extra: sandboxtest.GenerousGates}))
	env := harnessEnv(t, inv, c.Password)
	good := realManifest(t, env)
	before := clusterSlots(t, c)

	for _, tc := range []struct {
		name  string
		edit  func(*backup.Manifest)
		parts []string
	}{
		{"stale", stale, []string{"saved 30h", "older than backup.max_age 24h0m0s"}},
		{"missing range", dropSlots(t), []string{"100 of 16384 slots have no good file: 100-199"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := editManifest(t, good, strings.ReplaceAll(tc.name, " ", "-")+".json", tc.edit)
			res, err := Rebalance(ctxT(t), env, RebalanceInput{RequireBackup: path, MaxBatches: 1})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome() != report.OutcomeFail {
				t.Fatalf("outcome %s, want fail:\n%s", res.Outcome(), checksText(res))
			}
			for _, ch := range res.Checks {
				if ch.ID != IDBackupManifest || ch.Status != report.Fail || ch.Hint == "" {
					t.Errorf("check %s %s: only failed backup.manifest checks expected before anything runs", ch.ID, ch.Status)
				}
			}
			found := false
			for _, ch := range res.Checks {
				all := true
				for _, p := range tc.parts {
					all = all && strings.Contains(ch.Message, p)
				}
				found = found || all
			}
			if !found {
				t.Errorf("no check names %q:\n%s", tc.parts, checksText(res))
			}
			if res.Rebalance.SlotsMoved != 0 || len(res.Rebalance.Batches) != 0 {
				t.Errorf("refused run moved %d slots in %d batches", res.Rebalance.SlotsMoved, len(res.Rebalance.Batches))
			}
			if after := clusterSlots(t, c); after != before {
				t.Errorf("slots moved by a refused run:\nbefore %s\nafter  %s", before, after)
			}
		})
	}

	res, err := Rebalance(ctxT(t), env, RebalanceInput{RequireBackup: good, MaxBatches: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome() != report.OutcomePass || res.Rebalance.SlotsMoved == 0 {
		t.Fatalf("good manifest: outcome %s, %d slots moved:\n%s", res.Outcome(), res.Rebalance.SlotsMoved, checksText(res))
	}
	want(t, res.Checks, IDBackupManifest, "", report.Pass, "good files cover all 16384 slots")
	if after := clusterSlots(t, c); after == before {
		t.Errorf("slot map unchanged after a run that moved %d slots", res.Rebalance.SlotsMoved)
	}
}
