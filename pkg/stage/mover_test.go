package stage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/migrate"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// TestRebalanceMoverOnRedis70: Redis 7.0 has no atomic slot migration, so
// auto falls back to legacy (and says why), and atomic is a usage error
// naming the masters that lack it. Nothing moves in either case.
func TestRebalanceMoverOnRedis70(t *testing.T) {
	t.Parallel()
	c, _ := startCross(t)
	inv := crossYAML(ports(c), rbSettings)
	res := rbRebalance(t, c, inv, RebalanceInput{Mover: "auto"}, "rebalance --mover auto")
	if res.Rebalance.Mover != string(migrate.ProtocolLegacy) {
		t.Errorf("report mover %q, want legacy", res.Rebalance.Mover)
	}
	if n := len(find(res.Checks, IDPlanKeys, "")); n != 0 {
		t.Errorf("Redis 7.0 has no CLUSTER SLOT-STATS, yet %d plan_keys check(s)", n)
	}
	ch := want(t, res.Checks, IDMover, "", report.Pass)
	if ch.Observed != "legacy" {
		t.Errorf("mover check observed %v, want legacy: %s", ch.Observed, ch.Message)
	}

	env := harnessEnv(t, parseInv(t, inv), c.Password)
	_, err := Rebalance(ctxT(t), env, RebalanceInput{Mover: "atomic", Timeout: 20 * time.Second})
	var ue *UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("--mover atomic on Redis 7.0: err %v, want a usage error", err)
	}
	t.Logf("--mover atomic on Redis 7.0: %v", err)
	for _, a := range c.Addrs()[:3] {
		if !strings.Contains(err.Error(), a) {
			t.Errorf("the error does not name master %s: %v", a, err)
		}
	}
}

// TestRebalanceAtomicServers takes 3 masters (+3 replicas) with keys to 5
// masters (+5 replicas) on the servers SLOTSHIFT_TEST_SERVERS lists, with
// each protocol the server has: every key reads back, no slot is open, the
// replicas hold their masters' keys and the report names the mover.
func TestRebalanceAtomicServers(t *testing.T) {
	cases := []struct {
		server, what, mover string
		want                migrate.Protocol
	}{
		{"valkey", "Valkey >= 9.0", "auto", migrate.ProtocolValkeyASM},
		{"valkey", "Valkey >= 9.0", "legacy", migrate.ProtocolLegacy},
		{"redis84", "Redis >= 8.4", "atomic", migrate.ProtocolRedisASM},
	}
	for _, tc := range cases {
		t.Run(tc.server+"/"+tc.mover, func(t *testing.T) {
			bin := sandboxtest.ServerBin(t, tc.server, tc.what)
			c := sandboxtest.Start(t, 6, sandboxtest.Options{NodeTimeoutMS: 1000, Bin: bin})
			c.Form(t, 3)
			c.Load(t, rbKeys, rbValueSize)
			c.AddNodes(t, 4)
			p := ports(c)
			inv := crossYAML(p[:6],
				sandboxtest.Server("server4", "", p[6], p[7], fmt.Sprintf("server5:%d", p[8]))+
					sandboxtest.Server("server5", "", p[8], p[9], fmt.Sprintf("server4:%d", p[6]))+
					rbSettings)
			rbJoin(t, c, inv)
			if tc.server == "valkey" {
				// The version check reads valkey_version, not the
				// compatibility redis_version (7.2.4).
				env := harnessEnv(t, parseInv(t, inv), c.Password)
				vres := rbRun(t, "validate", func(ctx context.Context) (Result, error) { return Validate(ctx, env, ValidateInput{}) })
				want(t, vres.Checks, check.IDVersion, "", report.Pass, "every node runs Valkey 9.")
			}
			// The legacy protocol pays ~8ms per slot on Valkey (SETSLOT
			// waits for the replicas): 6554 slots take a minute, more
			// under -race on a busy machine.
			env := harnessEnv(t, parseInv(t, inv), c.Password)
			res := rbRunFor(t, "rebalance 3 -> 5 --mover "+tc.mover, 6*time.Minute, func(ctx context.Context) (Result, error) {
				return Rebalance(ctx, env, RebalanceInput{Mover: tc.mover, Timeout: 20 * time.Second})
			})
			if res.Rebalance.Mover != string(tc.want) {
				t.Errorf("report mover %q, want %q", res.Rebalance.Mover, tc.want)
			}
			if !res.Rebalance.Done || res.Rebalance.KeysMoved == 0 {
				t.Errorf("done %v, %d keys moved", res.Rebalance.Done, res.Rebalance.KeysMoved)
			}
			want(t, res.Checks, IDBalanced, "", report.Pass)
			// Nothing writes during the run: the keys SLOT-STATS counted
			// before it are the keys it moved.
			if pk := want(t, res.Checks, IDPlanKeys, "", report.Pass); pk.Observed != res.Rebalance.KeysMoved {
				t.Errorf("plan keys %v, keys moved %d", pk.Observed, res.Rebalance.KeysMoved)
			}
			if tc.want.Atomic() {
				want(t, res.Checks, IDReplicas, "", report.Pass)
			}
			c.Healthy(t, rbKeys, rbValueSize)
			a := c.Addrs()
			for _, pair := range [][2]int{{6, 9}, {8, 7}} {
				// The legacy mover does not wait for the replicas: give
				// them a moment.
				var m, r int64
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					m, _ = c.Client(pair[0]).DBSize(context.Background()).Result()
					r, _ = c.Client(pair[1]).DBSize(context.Background()).Result()
					if (m > 0 && r == m) || time.Now().After(deadline) {
						break
					}
				}
				if m == 0 || r != m {
					t.Errorf("new master %s holds %d keys, its replica %s %d", a[pair[0]], m, a[pair[1]], r)
				}
			}
		})
	}
}
