package inventory

import (
	"path/filepath"
	"strings"
	"testing"
)

func mustParse(t *testing.T, text string) *Inventory {
	t.Helper()
	inv, err := Parse("inv.yaml", []byte(text))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return inv
}

// edit applies old→new replacements to the valid inventory, failing when
// one does not apply, so a table row cannot silently test nothing.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	text := valid
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			t.Fatalf("edit: %q not found", pairs[i])
		}
		text = strings.Replace(text, pairs[i], pairs[i+1], 1)
	}
	return text
}

const fourthServer = `  - name: server4
    address: 127.0.0.1
    nodes:
      - {port: 7006, role: master}
      - {port: 7007, role: replica}
`

// TestLatencyVariationDefaults: the variation gate is off unless set, and
// setting one limit fills the other.
func TestLatencyVariationDefaults(t *testing.T) {
	inv := mustParse(t, valid+"gates:\n  latency_variation_percent: {hold: 15}\n")
	if got := inv.Gates.LatencyVariationPercent; got.Hold != 15 || got.Abort != 100 || got.Line != 22 {
		t.Errorf("latency_variation_percent = %+v, want hold 15, abort 100, line 22", got)
	}
	if f := Check(inv, nil); len(f) != 0 {
		t.Errorf("findings on a valid variation gate: %+v", f)
	}
}

func TestCheckRules(t *testing.T) {
	tests := []struct {
		name     string
		text     func(t *testing.T) string
		base     string // text of the base inventory; "" = nil
		id       string
		severity Severity
		line     int
		field    string
		contains []string
	}{
		{"duplicate server name", func(t *testing.T) string { return edit(t, "name: server3", "name: server1") },
			"", RuleUniqueServer, SeverityFail, 16, "servers[2].name", []string{`"server1" is used twice`, "line 5"}},
		{"duplicate address", func(t *testing.T) string {
			return edit(t, "port: 7002", "port: 7000", "server2:7002", "server2:7000")
		}, "", RuleUniqueAddress, SeverityFail, 13, "servers[1].nodes[0].port", []string{"server2:7000", "127.0.0.1:7000", "server1:7000 (line 8)"}},
		{"bus port clash", func(t *testing.T) string { return edit(t, "port: 7005", "port: 17000") },
			"", RuleUniqueAddress, SeverityFail, 8, "servers[0].nodes[0].port", []string{"server1:7000", "bus port 127.0.0.1:17000", "server3:17000"}},
		{"port zero", func(t *testing.T) string { return edit(t, "port: 7005", "port: 0") },
			"", RulePortRange, SeverityFail, 20, "servers[2].nodes[1].port", []string{"port 0", "1..55535"}},
		{"port too high", func(t *testing.T) string { return edit(t, "port: 7005", "port: 55536") },
			"", RulePortRange, SeverityFail, 20, "servers[2].nodes[1].port", []string{"port 55536"}},
		{"replica_of unknown", func(t *testing.T) string { return edit(t, `"server1:7000"`, `"server9:7000"`) },
			"", RuleReplicaOf, SeverityFail, 15, "servers[1].nodes[1].replica_of", []string{"server2:7003", `"server9:7000" names no node`}},
		{"replica_of an address", func(t *testing.T) string { return edit(t, `"server1:7000"`, `"127.0.0.1:7000"`) },
			"", RuleReplicaOf, SeverityFail, 15, "servers[1].nodes[1].replica_of", []string{`did you mean "server1:7000"?`}},
		{"replica_of a replica", func(t *testing.T) string { return edit(t, `"server1:7000"`, `"server1:7001"`) },
			"", RuleReplicaOf, SeverityFail, 15, "servers[1].nodes[1].replica_of", []string{"is a replica, not a master"}},
		{"replica_of malformed", func(t *testing.T) string { return edit(t, `"server1:7000"`, `"server1"`) },
			"", RuleReplicaOf, SeverityFail, 15, "servers[1].nodes[1].replica_of", []string{"not of the form server:port"}},
		{"replica_of on a master", func(t *testing.T) string {
			return edit(t, "{port: 7000, role: master}", `{port: 7000, role: master, replica_of: "server2:7002"}`)
		}, "", RuleReplicaOf, SeverityFail, 8, "servers[0].nodes[0].replica_of", []string{"server1:7000 is a master"}},
		{"anti-affinity", func(t *testing.T) string { return edit(t, `"server3:7004"`, `"server1:7000"`) },
			"", RuleAntiAffinity, SeverityFail, 9, "servers[0].nodes[1].replica_of", []string{"server1:7001 follows master server1:7000", `same server "server1"`}},
		{"master without replica", func(t *testing.T) string { return edit(t, `"server2:7002"`, `"server1:7000"`) },
			"", RuleMasterHasReplica, SeverityFail, 13, "servers[1].nodes[0]", []string{"master server2:7002 has no replica"}},
		{"two masters", func(t *testing.T) string {
			return edit(t, "{port: 7004, role: master}", `{port: 7004, role: replica, replica_of: "server1:7000"}`, `"server3:7004"`, `"server2:7002"`)
		}, "", RuleMastersMin, SeverityFail, 5, "servers", []string{"2 master(s) (server1:7000, server2:7002)", "at least 3"}},
		{"even servers warn", func(t *testing.T) string { return valid + fourthServer }, "", RuleOddServers, SeverityWarn, 21, "servers", []string{"4 servers"}},
		{"even servers fail", func(t *testing.T) string { return valid + fourthServer + "validate: {require_odd_servers: true}\n" },
			"", RuleOddServers, SeverityFail, 21, "servers", []string{"4 servers", "require_odd_servers is set"}},
		{"one new server", func(t *testing.T) string { return valid + fourthServer }, valid,
			RuleNewServersInPairs, SeverityFail, 21, "servers", []string{"1 new server(s)", "(server4)", "in pairs"}},
		{"password_env holds a secret", func(t *testing.T) string {
			return edit(t, "  name: t", "  name: t\n  password_env: hunter2-is-my-password!")
		},
			"", RulePasswordEnv, SeverityFail, 2, "cluster.password_env", []string{"value not shown"}},
		{"gates inverted", func(t *testing.T) string { return valid + "gates:\n  latency_p99_ms: {hold: 200, abort: 20}\n" },
			"", RuleGates, SeverityFail, 22, "gates.latency_p99_ms", []string{"hold 200 must be below abort 20"}},
		{"gate negative", func(t *testing.T) string { return valid + "gates:\n  cpu_percent: {hold: -1}\n" },
			"", RuleGates, SeverityFail, 22, "gates.cpu_percent", []string{"hold -1 and abort 95 must both be positive"}},
		{"gate percent over 100", func(t *testing.T) string { return valid + "gates:\n  memory_percent: {abort: 150}\n" },
			"", RuleGates, SeverityFail, 22, "gates.memory_percent", []string{"abort 150 is over 100%"}},
		{"hold timeout negative", func(t *testing.T) string { return valid + "gates: {hold_timeout: -1m}\n" },
			"", RuleGates, SeverityFail, 21, "gates.hold_timeout", []string{"-1m0s must be positive"}},
		{"variation inverted", func(t *testing.T) string {
			return valid + "gates:\n  latency_variation_percent: {hold: 50, abort: 20}\n"
		},
			"", RuleGates, SeverityFail, 22, "gates.latency_variation_percent", []string{"hold 50 must be below abort 20"}},
		{"variation negative", func(t *testing.T) string { return valid + "gates:\n  latency_variation_percent: {hold: -10}\n" },
			"", RuleGates, SeverityFail, 22, "gates.latency_variation_percent", []string{"hold -10 and abort 100 must both be positive"}},
		{"baseline window negative", func(t *testing.T) string { return valid + "gates: {baseline_window: -3s}\n" },
			"", RuleGates, SeverityFail, 21, "gates.baseline_window", []string{"-3s must be positive"}},
		{"abort recheck negative", func(t *testing.T) string { return valid + "gates: {abort_recheck: -1s}\n" },
			"", RuleGates, SeverityFail, 21, "gates.abort_recheck", []string{"-1s must be positive"}},
		{"batch slots", func(t *testing.T) string { return valid + "rebalance: {batch_slots: 20000}\n" },
			"", RuleSettings, SeverityFail, 21, "rebalance.batch_slots", []string{"20000", "1..16384"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := mustParse(t, tc.text(t))
			var base *Inventory
			if tc.base != "" {
				base = mustParse(t, tc.base)
			}
			got := Check(inv, base)
			var f *Finding
			for i := range got {
				if got[i].ID == tc.id {
					f = &got[i]
					break
				}
			}
			if f == nil {
				t.Fatalf("no %s finding in %+v", tc.id, got)
			}
			if f.Severity != tc.severity || f.Line != tc.line || f.Field != tc.field || f.File != "inv.yaml" {
				t.Errorf("finding = %+v\nwant severity %s line %d field %q", *f, tc.severity, tc.line, tc.field)
			}
			for _, s := range tc.contains {
				if !strings.Contains(f.Message, s) {
					t.Errorf("message %q lacks %q", f.Message, s)
				}
			}
			if strings.Contains(f.Message, "hunter2") {
				t.Errorf("message echoes a secret: %q", f.Message)
			}
		})
	}
}

func TestCheckValidHasNoFindings(t *testing.T) {
	inv := mustParse(t, valid)
	if got := Check(inv, inv); len(got) != 0 {
		t.Fatalf("findings: %+v", got)
	}
	// A pair of new servers relative to the base is fine too.
	five := mustParse(t, valid+fourthServer+strings.NewReplacer("server4", "server5", "7006", "7008", "7007", "7009").Replace(fourthServer))
	if got := Check(five, inv); len(got) != 0 {
		t.Fatalf("findings for a new pair: %+v", got)
	}
}

func TestCheckSecrets(t *testing.T) {
	inv := mustParse(t, edit(t, "  name: t", "  name: t\n  password_env: REDIS_ACCESSKEY\n  user_env: REDIS_USER"))
	tests := []struct {
		name     string
		env      map[string]string
		contains []string // one per finding
	}{
		{"ok", map[string]string{"REDIS_ACCESSKEY": "0123456789abcdef", "REDIS_USER": "admin"}, nil},
		{"missing", map[string]string{"REDIS_USER": "admin"}, []string{"REDIS_ACCESSKEY (cluster.password_env) is not set"}},
		{"short", map[string]string{"REDIS_ACCESSKEY": "short-secret", "REDIS_USER": "admin"}, []string{"REDIS_ACCESSKEY is too short; use at least 16 characters"}},
		{"user missing", map[string]string{"REDIS_ACCESSKEY": "0123456789abcdef"}, []string{"REDIS_USER (cluster.user_env) is not set"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckSecrets(inv, func(k string) string { return tc.env[k] })
			if len(got) != len(tc.contains) {
				t.Fatalf("got %d findings, want %d: %+v", len(got), len(tc.contains), got)
			}
			for i, s := range tc.contains {
				f := got[i]
				if f.ID != RulePassword || f.Severity != SeverityFail || f.Line != 2 || !strings.Contains(f.Message, s) {
					t.Errorf("finding = %+v, want %q", f, s)
				}
				if strings.Contains(f.Message, "short-secret") || strings.Contains(f.Message, "12") {
					t.Errorf("message leaks the value or its length: %q", f.Message)
				}
			}
		})
	}
}

// TestInvalidTestdata ties each file under testdata/inventories/invalid to
// the error or rule it exists to show.
func TestInvalidTestdata(t *testing.T) {
	dir := filepath.Join(inventories, "invalid")
	tests := []struct {
		file  string
		base  string
		id    string // rule id, or "" for a parse error
		line  int
		field string
		text  string
	}{
		{"unknown-key.yaml", "", "", 15, "servers[1].nodes[0].prot", `did you mean "port"?`},
		{"malformed.yaml", "", "", 9, "", "malformed YAML"},
		{"duplicate-address.yaml", "", RuleUniqueAddress, 15, "servers[1].nodes[0].port", "already used by node server1:7000"},
		{"replica-same-server.yaml", "", RuleAntiAffinity, 11, "servers[0].nodes[1].replica_of", "same server"},
		{"replica-of-nothing.yaml", "", RuleReplicaOf, 16, "servers[1].nodes[1].replica_of", `"server9:7000" names no node`},
		{"two-masters.yaml", "", RuleMastersMin, 6, "servers", "2 master(s)"},
		{"gates-inverted.yaml", "", RuleGates, 23, "gates.latency_p99_ms", "hold 200 must be below abort 20"},
		{"new-servers-odd.yaml", "prod-3x2.yaml", RuleNewServersInPairs, 25, "servers", "(server4)"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			inv, err := Load(filepath.Join(dir, tc.file))
			if tc.id == "" {
				ps := problems(t, err)
				if p := ps[0]; p.Line != tc.line || p.Field != tc.field || !strings.Contains(p.Message, tc.text) || !strings.HasSuffix(p.File, tc.file) {
					t.Errorf("problem = %+v", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var base *Inventory
			if tc.base != "" {
				if base, err = Load(filepath.Join(inventories, tc.base)); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range Check(inv, base) {
				if f.ID == tc.id {
					if f.Line != tc.line || f.Field != tc.field || !strings.Contains(f.Message, tc.text) || f.Severity != SeverityFail {
						t.Errorf("finding = %+v", f)
					}
					return
				}
			}
			t.Errorf("no %s finding", tc.id)
		})
	}
}

func TestInvalidKeepsOnlyStructuralFailures(t *testing.T) {
	findings := []Finding{
		{ID: RuleAntiAffinity, Severity: SeverityFail},
		{ID: RuleOddServers, Severity: SeverityFail},
		{ID: RuleUniqueAddress, Severity: SeverityWarn},
		{ID: RuleReplicaOf, Severity: SeverityFail},
	}
	got := Invalid(findings)
	if len(got) != 2 || got[0].ID != RuleAntiAffinity || got[1].ID != RuleReplicaOf {
		t.Fatalf("Invalid = %+v, want anti_affinity and replica_of failures only", got)
	}
}
