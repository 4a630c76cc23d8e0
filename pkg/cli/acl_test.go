package cli_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/acl"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// aclUser and aclPassword are the test's ACL user. Its password differs
// from requirepass: a stage that fell back to the default user, or a
// MIGRATE without AUTH2, would fail to authenticate.
const (
	aclUser     = "slotshift"
	aclPassword = "acl-user-password-0123456789"
)

func aclEnv(f scaleOutFixture) []string {
	return []string{"SLOTSHIFT_PASSWORD=" + aclPassword, "SLOTSHIFT_USER=" + aclUser, "SLOTSHIFT_INVENTORY_FILE=" + f.inv}
}

// TestACLLeastPrivilegeRulePassesThePipeline gives the nodes the README's
// least-privilege user (acl.Rule, which a doc test finds in README) and
// runs validate → join → rebalance → verify as that user only: validate
// proves every command with ACL DRYRUN, and the rebalance's MIGRATE
// authenticates to the targets with AUTH2.
func TestACLLeastPrivilegeRulePassesThePipeline(t *testing.T) {
	t.Parallel()
	f := newScaleOut(t, sandboxtest.Options{}, "  user_env: SLOTSHIFT_USER\n")
	f.c.SetUser(t, aclUser, aclPassword, acl.Rule)
	env := aclEnv(f)

	r, _ := f.run(t, env, 0, "validate")
	if a := checkIDs(r, "acl.permissions"); len(a) != 1 || a[0].Status != report.Pass || !strings.Contains(a[0].Message, `"slotshift"`) {
		t.Errorf("acl.permissions = %+v, want one pass for user slotshift", a)
	}
	f.scaleOut(t, env)
	// The targets ran RESTORE-ASKING as the user: MIGRATE sent AUTH2.
	stats, err := f.c.Client(6).Info(context.Background(), "commandstats").Result()
	if err != nil || !strings.Contains(stats, "cmdstat_restore-asking:") {
		t.Errorf("new master ran no RESTORE-ASKING: %v\n%s", err, stats)
	}
}

// topology is the parsed CLUSTER NODES of node 0 without its volatile
// fields: id, address, role, master and slots of every node.
func topology(t *testing.T, c *sandboxtest.Cluster) map[string]string {
	t.Helper()
	text, err := c.Client(0).ClusterNodes(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cluster.ParseNodes(text)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range nodes {
		out[n.ID] = strings.Join([]string{n.Addr, strings.Join(n.Flags, ","), n.MasterID, n.Slots.String()}, " ")
	}
	return out
}

// TestACLMissingPermissionFailsValidate takes MIGRATE and CLUSTER SETSLOT
// away from the user: validate fails (exit 1) naming both commands, and
// the cluster is exactly as before. Without ACL DRYRUN rights, validate
// says it could not prove the permissions instead of passing.
func TestACLMissingPermissionFailsValidate(t *testing.T) {
	t.Parallel()
	f := newScaleOut(t, sandboxtest.Options{}, "  user_env: SLOTSHIFT_USER\n")
	f.c.SetUser(t, aclUser, aclPassword, acl.Rule+" -migrate -cluster|setslot")
	env := aclEnv(f)
	before := topology(t, f.c)

	r, res := f.run(t, env, 1, "validate")
	var failed []string
	for _, c := range checkIDs(r, "acl.permissions") {
		if c.Status == report.Fail {
			failed = append(failed, c.Message)
		}
	}
	slices.Sort(failed)
	if len(failed) != 2 || !strings.Contains(failed[0], "may not run CLUSTER SETSLOT") || !strings.Contains(failed[1], "may not run MIGRATE") {
		t.Errorf("acl.permissions failures %q, want CLUSTER SETSLOT and MIGRATE", failed)
	}
	if !strings.Contains(res.stderr, "MIGRATE") {
		t.Errorf("stderr does not name MIGRATE:\n%s", res.stderr)
	}
	if after := topology(t, f.c); !maps.Equal(after, before) {
		t.Errorf("validate changed the cluster:\nbefore %v\nafter  %v", before, after)
	}

	// A rule limited to slotshift's own keys cannot move the cluster's.
	f.c.SetUser(t, aclUser, aclPassword, strings.Replace(acl.Rule, "~*", "~slotshift:*", 1))
	r, _ = f.run(t, env, 1, "validate")
	if a := checkIDs(r, "acl.permissions"); len(a) == 0 || a[0].Status != report.Fail || !strings.Contains(a[0].Message, "key") {
		t.Errorf("a rule limited to ~slotshift:*: %+v, want failures about keys", a)
	}

	f.c.SetUser(t, aclUser, aclPassword, acl.Rule+" -acl|dryrun")
	r, _ = f.run(t, env, 0, "validate")
	a := checkIDs(r, "acl.permissions")
	if len(a) == 0 || a[0].Status != report.Warn || !strings.Contains(a[0].Message, "may not run ACL DRYRUN") {
		t.Errorf("without +acl|dryrun: %+v, want warnings saying the permissions could not be proven", a)
	}
	for _, c := range a {
		if c.Status == report.Pass {
			t.Errorf("acl.permissions passed without proof: %+v", c)
		}
	}
}

// TestACLFeatureCommandsOnASMServers: on a server with atomic slot
// migration, validate also proves the commands the atomic mover sends. The
// base rule alone fails naming them; the base rule plus the server's extra
// words passes. Needs the servers of SLOTSHIFT_TEST_SERVERS.
func TestACLFeatureCommandsOnASMServers(t *testing.T) {
	for _, tc := range []struct {
		name, what string
		features   acl.Features
		want       []string
	}{
		{"redis84", "Redis >= 8.4, for CLUSTER MIGRATION", acl.Features{RedisASM: true, SlotStats: true}, []string{"CLUSTER MIGRATION", "CLUSTER SLOT-STATS"}},
		{"valkey", "Valkey >= 9.0, for CLUSTER MIGRATESLOTS", acl.Features{ValkeyASM: true, SlotStats: true}, []string{"CLUSTER MIGRATESLOTS", "CLUSTER GETSLOTMIGRATIONS", "CLUSTER SLOT-STATS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := sandboxtest.ServerBin(t, tc.name, tc.what)
			f := newScaleOut(t, sandboxtest.Options{Bin: bin}, "  user_env: SLOTSHIFT_USER\n")
			env := aclEnv(f)
			before := topology(t, f.c)

			f.c.SetUser(t, aclUser, aclPassword, acl.Rule)
			r, _ := f.run(t, env, 1, "validate")
			var failed []string
			for _, c := range checkIDs(r, "acl.permissions") {
				if c.Status == report.Fail {
					failed = append(failed, c.Message)
				}
			}
			for _, cmd := range tc.want {
				if !slices.ContainsFunc(failed, func(m string) bool { return strings.Contains(m, "may not run "+cmd+" ") }) {
					t.Errorf("the base rule on %s: failures %q lack %s", tc.name, failed, cmd)
				}
			}
			if after := topology(t, f.c); !maps.Equal(after, before) {
				t.Errorf("validate changed the cluster:\nbefore %v\nafter  %v", before, after)
			}

			f.c.SetUser(t, aclUser, aclPassword, acl.Rule+" "+acl.FeatureRule(tc.features))
			r, _ = f.run(t, env, 0, "validate")
			if a := checkIDs(r, "acl.permissions"); len(a) != 1 || a[0].Status != report.Pass {
				t.Errorf("the base rule plus %q: %+v, want one pass", acl.FeatureRule(tc.features), a)
			}
		})
	}
}
