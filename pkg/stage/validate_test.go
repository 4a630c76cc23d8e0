package stage

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
