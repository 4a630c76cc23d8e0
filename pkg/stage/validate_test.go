package stage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/backup"
	"github.com/slotshift/slotshift/pkg/check"

	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// wallLimit is the stage wall time above which the tests fail; the goal is
// 2 s, the limit leaves room for -race on a loaded machine.
const wallLimit = 5 * time.Second

func TestValidateOnline(t *testing.T) {
	c, inv := startCross(t)
	c.Load(t, 3000, 100)
	ctx := ctxT(t)
	env := harnessEnv(t, inv, c.Password)
	addrs := c.Addrs()

	t.Run("healthy", func(t *testing.T) {
		start := time.Now()
		res, err := Validate(ctx, env, ValidateInput{})
		wall := time.Since(start)
		t.Logf("validate (online) wall time on a healthy 3+3 cluster: %s, %d checks", wall.Round(time.Millisecond), len(res.Checks))
		if err != nil {
			t.Fatal(err)
		}
		if wall > wallLimit {
			t.Errorf("validate took %s, want well under %s", wall, wallLimit)
		}
		if f := failures(res.Checks); len(f) > 0 {
			t.Fatalf("healthy cluster has failures: %+v", f)
		}
		if res.Outcome() != report.OutcomePass {
			t.Errorf("outcome %s", res.Outcome())
		}
		for _, id := range []string{check.IDReachable, check.IDBusPort, check.IDAuth, check.IDClusterEnabled, check.IDConfigDrift, check.IDClusterState, check.IDSlotsOpen, check.IDNodeFailed, check.IDGateCPU, check.IDGateMemory} {
			if n := len(find(res.Checks, id, "")); n != 6 {
				t.Errorf("%s: %d checks, want one per node (6)", id, n)
			}
		}
		for _, a := range addrs[:3] {
			want(t, res.Checks, check.IDBigKeys, a, report.Pass, "keys scanned")
		}
		for _, a := range addrs[3:] {
			want(t, res.Checks, check.IDBackup, a, report.Skip, "persistence is disabled")
		}
		want(t, res.Checks, check.IDVersion, "", report.Pass, "every node runs Redis")
		want(t, res.Checks, check.IDSlotsCoverage, "", report.Pass)
		want(t, res.Checks, check.IDSlotsAgreement, "", report.Pass)
		want(t, res.Checks, check.IDMemoryHeadroom, "", report.Pass, "no node receives slots")
		if res.Fingerprint == "" || res.Masters != 3 || res.Replicas != 3 {
			t.Errorf("fingerprint %q masters %d replicas %d", res.Fingerprint, res.Masters, res.Replicas)
		}
		if !strings.Contains(strings.Join(res.Summary, "\n"), "no changes") {
			t.Errorf("summary: %q", res.Summary)
		}
	})

	t.Run("big key", func(t *testing.T) {
		cc := c.ClusterClient()
		key := "big:{k}"
		if err := cc.Set(ctx, key, strings.Repeat("x", 11<<20), 0).Err(); err != nil {
			t.Fatal(err)
		}
		defer cc.Del(ctx, key)
		owner, err := cc.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		addr := owner.Options().Addr
		res, err := Validate(ctx, env, ValidateInput{})
		if err != nil {
			t.Fatal(err)
		}
		want(t, res.Checks, check.IDBigKeys, addr, report.Warn, key, "MiB", "warn over")
		low := inv.Clone()
		low.Validate.BigKeyWarnBytes, low.Validate.BigKeyFailBytes = 1_000_000, 5_000_000
		res, err = Validate(ctx, harnessEnv(t, low, c.Password), ValidateInput{})
		if err != nil {
			t.Fatal(err)
		}
		ck := want(t, res.Checks, check.IDBigKeys, addr, report.Fail, key, "fail over")
		if v, _ := ck.Observed.(int64); v < 11<<20 {
			t.Errorf("observed %v bytes, want >= 11 MiB", ck.Observed)
		}
	})

	t.Run("config drift", func(t *testing.T) {
		cl := c.Client(2)
		if err := cl.ConfigSet(ctx, "maxmemory", "100mb").Err(); err != nil {
			t.Fatal(err)
		}
		defer cl.ConfigSet(ctx, "maxmemory", "0")
		res, err := Validate(ctx, env, ValidateInput{})
		if err != nil {
			t.Fatal(err)
		}
		want(t, res.Checks, check.IDConfigDrift, addrs[2], report.Fail, addrs[2], "maxmemory", "104857600")
		want(t, res.Checks, check.IDConfigDrift, addrs[0], report.Pass)
	})

	t.Run("open slot", func(t *testing.T) {
		target, err := c.Client(1).ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Client(0).Do(ctx, "CLUSTER", "SETSLOT", 100, "MIGRATING", target).Err(); err != nil {
			t.Fatal(err)
		}
		defer c.Client(0).Do(ctx, "CLUSTER", "SETSLOT", 100, "STABLE")
		res, err := Validate(ctx, env, ValidateInput{})
		if err != nil {
			t.Fatal(err)
		}
		want(t, res.Checks, check.IDSlotsOpen, addrs[0], report.Fail, addrs[0], "slot 100 migrating to "+addrs[1])
	})

	t.Run("wrong password", func(t *testing.T) {
		start := time.Now()
		res, err := Validate(ctx, harnessEnv(t, inv, "a-wrong-password-0123456789"), ValidateInput{})
		wall := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if wall > wallLimit {
			t.Errorf("a wrong password took %s to report", wall)
		}
		for _, a := range addrs {
			want(t, res.Checks, check.IDAuth, a, report.Fail, a, "authentication failed")
			want(t, res.Checks, check.IDReachable, a, report.Pass)
		}
		for _, ck := range res.Checks {
			if strings.Contains(ck.Message, "a-wrong-password") {
				t.Errorf("password leaked in %s: %s", ck.ID, ck.Message)
			}
		}
	})

	t.Run("nodes to add", func(t *testing.T) {
		extra := sandboxtest.Start(t, 4, sandboxtest.Options{NodeTimeoutMS: 1000})
		e := ports(extra)
		text := crossYAML(ports(c), "")
		// server4 and server5 pair up: each one's replica follows the other's master.
		text += fmt.Sprintf(`  - name: server4
    address: 127.0.0.1
    nodes:
      - {port: %d, role: master}
      - {port: %d, role: replica, replica_of: "server5:%d"}
  - name: server5
    address: 127.0.0.1
    nodes:
      - {port: %d, role: master}
      - {port: %d, role: replica, replica_of: "server4:%d"}
`, e[0], e[2], e[1], e[1], e[3], e[0])
		big := parseInv(t, text)
		res, err := Validate(ctx, harnessEnv(t, big, c.Password), ValidateInput{Base: inv})
		if err != nil {
			t.Fatal(err)
		}
		if f := failures(res.Checks); len(f) > 0 {
			t.Fatalf("failures: %+v", f)
		}
		for _, a := range extra.Addrs() {
			want(t, res.Checks, check.IDNewEmpty, a, report.Pass, "empty")
		}
		for _, a := range extra.Addrs()[:2] {
			want(t, res.Checks, check.IDMemoryHeadroom, a, report.Pass, "receives 32")
		}
		want(t, res.Checks, "inventory.new_servers_in_pairs", "", report.Pass)
		sum := strings.Join(res.Summary, "\n")
		for _, p := range []string{"join: add 4 node(s)", "attach replica server4:", "rebalance: move 65", "servers added since the base: server4, server5"} {
			if !strings.Contains(sum, p) {
				t.Errorf("summary lacks %q:\n%s", p, sum)
			}
		}
		t.Logf("preview:\n%s", sum)
	})
}

func TestValidateBeforeJoin(t *testing.T) {
	c := sandboxtest.Start(t, 6, sandboxtest.Options{NodeTimeoutMS: 1000})
	inv := parseInv(t, crossYAML(ports(c), ""))
	res, err := Validate(ctxT(t), harnessEnv(t, inv, c.Password), ValidateInput{})
	if err != nil {
		t.Fatal(err)
	}
	if f := failures(res.Checks); len(f) > 0 {
		t.Fatalf("empty nodes before join have failures: %+v", f)
	}
	for _, id := range []string{check.IDClusterState, check.IDSlotsCoverage, check.IDSlotsOpen, check.IDSlotsAgreement, check.IDNodeFailed, check.IDMemoryHeadroom} {
		want(t, res.Checks, id, "", report.Skip, check.NotCreated)
	}
	for _, a := range c.Addrs() {
		want(t, res.Checks, check.IDNewEmpty, a, report.Pass)
	}
	if sum := strings.Join(res.Summary, "\n"); !strings.Contains(sum, "create the cluster: 3 masters") {
		t.Errorf("summary: %s", sum)
	}
}

func TestValidateOfflineNeedsNoNetwork(t *testing.T) {
	// Nothing listens on these ports: offline validate must not try.
	inv := parseInv(t, crossYAML([]int{1, 2, 3, 4, 5, 6}, ""))
	start := time.Now()
	res, err := Validate(ctxT(t), Env{Inventory: inv}, ValidateInput{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("offline validate took %s", time.Since(start))
	}
	if len(find(res.Checks, check.IDReachable, "")) != 0 {
		t.Error("offline validate ran online checks")
	}
	if len(res.Checks) == 0 || res.Outcome() != report.OutcomePass {
		t.Errorf("outcome %s with %d checks", res.Outcome(), len(res.Checks))
	}
}

// TestValidateBackupManifest checks online validate's backup gate against
// manifests the backup stage wrote on a sandbox, as written and edited.
func TestValidateBackupManifest(t *testing.T) {
	needCheckRDB(t)
	c, text := loadedCross(t, 500)
	env := harnessEnv(t, parseInv(t, text), c.Password)
	good := realManifest(t, env)
	m, err := backup.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	victim := m.Entries[1]

	cases := []struct {
		name  string
		path  func(t *testing.T) string
		node  string // of the failed check; "" = cluster-wide
		parts []string
		unit  string
	}{
		{name: "stale", path: func(t *testing.T) string { return editManifest(t, good, "stale.json", stale) },
			node: m.Entries[0].Node, parts: []string{"saved 30h", "older than backup.max_age 24h0m0s"}, unit: "seconds"},
		{name: "missing range", path: func(t *testing.T) string { return editManifest(t, good, "hole.json", dropSlots(t)) },
			parts: []string{"100 of 16384 slots have no good file: 100-199"}, unit: "slots"},
		{name: "bad entry", path: func(t *testing.T) string {
			return editManifest(t, good, "bad.json", func(m *backup.Manifest) { m.Entries[1].Status, m.Entries[1].Problem = backup.Bad, "disk full" })
		}, node: victim.Node, parts: []string{victim.Node, "marked bad: disk full"}},
		{name: "other cluster", path: func(t *testing.T) string {
			return editManifest(t, good, "other.json", func(m *backup.Manifest) { m.Cluster = "prod" })
		}, parts: []string{`of cluster "prod", not "test"`}},
		{name: "no manifest", path: func(t *testing.T) string { return filepath.Join(t.TempDir(), "manifest.json") },
			parts: []string{"not usable", "no such file"}},
		{name: "changed file", path: func(t *testing.T) string {
			f, err := os.OpenFile(filepath.Join(filepath.Dir(good), victim.File), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte{0}); err != nil {
				t.Fatal(err)
			}
			return good
		}, node: victim.Node, parts: []string{victim.File, fmt.Sprintf("size %d bytes, the manifest says %d", victim.Size+1, victim.Size)}},
	}

	t.Run("good", func(t *testing.T) {
		res, err := Validate(ctxT(t), env, ValidateInput{BackupManifest: good})
		if err != nil {
			t.Fatal(err)
		}
		ck := want(t, res.Checks, IDBackupManifest, "", report.Pass, good, "3 good files cover all 16384 slots", "backup.max_age 24h0m0s")
		if ck.Unit != "seconds" || ck.Observed.(float64) > 60 {
			t.Errorf("observed %v %s, want the oldest file's age in seconds", ck.Observed, ck.Unit)
		}
		// Without the flag there is no gate at all.
		res, err = Validate(ctxT(t), env, ValidateInput{Offline: true})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(find(res.Checks, IDBackupManifest, "")); n != 0 {
			t.Errorf("%d backup.manifest checks without a manifest", n)
		}
	})
	for _, tc := range cases { // in order: "changed file" edits the good run's file
		t.Run(tc.name, func(t *testing.T) {
			res, err := Validate(ctxT(t), env, ValidateInput{BackupManifest: tc.path(t)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome() != report.OutcomeFail {
				t.Errorf("outcome %s, want fail", res.Outcome())
			}
			failed := find(res.Checks, IDBackupManifest, tc.node)
			var hit *report.Check
			for i, ch := range failed {
				if ch.Status == report.Fail && containsAll(ch.Message, tc.parts) {
					hit = &failed[i]
				}
			}
			if hit == nil {
				t.Fatalf("no failed backup.manifest check for %q naming %q:\n%s", tc.node, tc.parts, checksText(res))
			}
			if hit.Unit != tc.unit || hit.Hint == "" {
				t.Errorf("check %+v: unit %q, want %q, and a hint", hit, hit.Unit, tc.unit)
			}
			for _, ch := range find(res.Checks, IDBackupManifest, "") {
				if ch.Status == report.Pass {
					t.Errorf("a pass beside failures: %s", ch.Message)
				}
			}
		})
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
