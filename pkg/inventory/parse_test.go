package inventory

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const inventories = "../../testdata/inventories"

// valid is a minimal correct inventory; tests edit it line by line, so its
// line numbers matter: servers[1].nodes[0] is on line 13.
const valid = `version: 1
cluster:
  name: t
servers:
  - name: server1
    address: 127.0.0.1
    nodes:
      - {port: 7000, role: master}
      - {port: 7001, role: replica, replica_of: "server3:7004"}
  - name: server2
    address: 127.0.0.1
    nodes:
      - port: 7002
        role: master
      - {port: 7003, role: replica, replica_of: "server1:7000"}
  - name: server3
    address: 127.0.0.1
    nodes:
      - {port: 7004, role: master}
      - {port: 7005, role: replica, replica_of: "server2:7002"}
`

func problems(t *testing.T, err error) []Problem {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("want *Error, got %T: %v", err, err)
	}
	return pe.Problems
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		line      int
		field     string
		contains  string
		wantCount int // 0 = at least one
	}{
		{"unknown key with suggestion", strings.Replace(valid, "      - port: 7002", "      - prot: 7002", 1),
			13, "servers[1].nodes[0].prot", `unknown key "prot"; did you mean "port"?`, 0},
		{"unknown top-level key", valid + "gatez: {}\n", 21, "gatez", `did you mean "gates"?`, 1},
		{"unknown key without suggestion", valid + "zzzzzz: 1\n", 21, "zzzzzz", "known keys: version, cluster, servers", 1},
		{"replicaof typo", strings.Replace(valid, `replica_of: "server3:7004"`, `replicaof: "server3:7004"`, 1),
			9, "servers[0].nodes[1].replicaof", `did you mean "replica_of"?`, 1},
		{"truncated key", strings.Replace(valid, "  name: t", "  name: t\n  password: X", 1),
			4, "cluster.password", `did you mean "password_env"?`, 1},
		{"port as string", strings.Replace(valid, "port: 7002", `port: "7002"`, 1),
			13, "servers[1].nodes[0].port", `want an integer, got string "7002" (remove the quotes)`, 1},
		{"port as list", strings.Replace(valid, "port: 7002", `port: [1]`, 1),
			13, "servers[1].nodes[0].port", "want an integer, got a list", 1},
		{"duplicate key", strings.Replace(valid, "        role: master", "        role: master\n        role: master", 1),
			15, "servers[1].nodes[0].role", `duplicate key "role" (first at line 14)`, 1},
		{"bad duration", valid + "gates: {hold_timeout: 10 minutes}\n", 21, "gates.hold_timeout", `duration "10 minutes"`, 1},
		{"duration as int", valid + "gates: {hold_timeout: 600}\n", 21, "gates.hold_timeout", `want a duration like "10m"`, 1},
		{"bool as string", valid + "provision: {kernel_tuning: yes}\n", 21, "provision.kernel_tuning", `want true or false, got string "yes"`, 1},
		{"bad role", strings.Replace(valid, "role: master}", "role: primary}", 1), 8, "servers[0].nodes[0].role", `"primary": want "master" or "replica"`, 1},
		{"missing role", strings.Replace(valid, "{port: 7000, role: master}", "{port: 7000}", 1), 8, "servers[0].nodes[0].role", "required", 1},
		{"missing version", strings.Replace(valid, "version: 1\n", "", 1), 1, "version", `required; set "version: 1"`, 1},
		{"wrong version", strings.Replace(valid, "version: 1", "version: 2", 1), 1, "version", "unsupported version 2", 1},
		{"missing address", strings.Replace(valid, "    address: 127.0.0.1\n", "", 1), 5, "servers[0].address", "required", 1},
		{"servers not a list", "version: 1\nservers: {a: 1}\n", 2, "servers", "want a list, got a mapping", 1},
		{"top level not a mapping", "- a\n- b\n", 1, "", "want a mapping at the top level", 1},
		{"malformed", "version: 1\nservers:\n  - {port: 7000\n  - x\n", 3, "", "malformed YAML", 1},
		{"two documents", valid + "---\nversion: 1\n", 21, "", "more than one YAML document", 1},
		{"empty", "  \n", 0, "", "empty inventory", 1},
		{"only comments", "# nothing\n", 0, "", "empty inventory", 1},
		{"bad service enum", valid + "provision: {service: upstart}\n", 21, "provision.service", `"upstart": want one of auto, systemd, daemon`, 1},
		{"secret in password_env is not echoed", strings.Replace(valid, "  name: t", "  name: t\n  password_env: 12345678901234567890", 1),
			4, "cluster.password_env", "want a string, got an integer (value not shown)", 1},
		{"unresolvable alias", "version: 1\nservers: *nope\n", 2, "", "malformed YAML", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Parse("inv.yaml", []byte(tc.text))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", inv)
			}
			if inv != nil {
				t.Errorf("Parse returned an inventory with an error")
			}
			ps := problems(t, err)
			if tc.wantCount > 0 && len(ps) != tc.wantCount {
				t.Errorf("got %d problems, want %d:\n%v", len(ps), tc.wantCount, err)
			}
			p := ps[0]
			if p.File != "inv.yaml" || p.Line != tc.line || p.Field != tc.field || !strings.Contains(p.Message, tc.contains) {
				t.Errorf("problem = %+v\nwant line %d field %q message containing %q", p, tc.line, tc.field, tc.contains)
			}
			if strings.Contains(tc.name, "not echoed") && strings.Contains(err.Error(), "12345678901234567890") {
				t.Errorf("error echoes a possible secret: %v", err)
			}
		})
	}
}

func TestParseCollectsEveryProblem(t *testing.T) {
	text := strings.NewReplacer(
		"      - port: 7002", "      - prot: 7002",
		`{port: 7004, role: master}`, `{port: "7004", role: master}`,
	).Replace(valid) + "rebalance: {batch_slot: 10}\n"
	_, err := Parse("inv.yaml", []byte(text))
	ps := problems(t, err)
	want := []string{
		`inv.yaml:13: servers[1].nodes[0].prot: unknown key "prot"; did you mean "port"?`,
		`inv.yaml:19: servers[2].nodes[0].port: want an integer, got string "7004" (remove the quotes)`,
		`inv.yaml:21: rebalance.batch_slot: unknown key "batch_slot"; did you mean "batch_slots"?`,
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("Error() =\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

func TestParseLinesAndDefaults(t *testing.T) {
	inv, err := Parse("inv.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Source != "inv.yaml" || inv.Cluster.Line != 2 {
		t.Errorf("Source %q, Cluster.Line %d", inv.Source, inv.Cluster.Line)
	}
	if got := []int{inv.Servers[0].Line, inv.Servers[1].Line, inv.Servers[1].Nodes[0].Line, inv.Servers[2].Nodes[1].Line}; got[0] != 5 || got[1] != 10 || got[2] != 13 || got[3] != 20 {
		t.Errorf("lines = %v, want [5 10 13 20]", got)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"password_env", inv.Cluster.PasswordEnv, "SLOTSHIFT_PASSWORD"},
		{"node_timeout_ms", inv.Cluster.NodeTimeoutMS, 5000},
		{"latency_avg", inv.Gates.LatencyAvgMS.Hold*1000 + inv.Gates.LatencyAvgMS.Abort, 5.0*1000 + 50},
		{"latency_p99", inv.Gates.LatencyP99MS.Hold*1000 + inv.Gates.LatencyP99MS.Abort, 20.0*1000 + 200},
		{"replication_lag", inv.Gates.ReplicationLagMS.Hold*10000 + inv.Gates.ReplicationLagMS.Abort, 500.0*10000 + 5000},
		{"cpu", inv.Gates.CPUPercent.Hold*1000 + inv.Gates.CPUPercent.Abort, 70.0*1000 + 95},
		{"memory", inv.Gates.MemoryPercent.Hold*1000 + inv.Gates.MemoryPercent.Abort, 80.0*1000 + 95},
		{"hold_timeout", inv.Gates.HoldTimeout.Duration, 10 * time.Minute},
		{"latency_variation off", inv.Gates.LatencyVariationPercent, Threshold{}},
		{"baseline_window", inv.Gates.BaselineWindow.Duration, 3 * time.Second},
		{"abort_recheck", inv.Gates.AbortRecheck.Duration, time.Second},
		{"batch_slots", inv.Rebalance.BatchSlots, 100},
		{"threshold", inv.Rebalance.ThresholdPercent, 2.0},
		{"big_key_bytes", inv.Rebalance.BigKeyBytes, int64(512 << 20)},
		{"big_key_warn", inv.Validate.BigKeyWarnBytes, int64(10_000_000)},
		{"big_key_fail", inv.Validate.BigKeyFailBytes, int64(100_000_000)},
		{"budget", inv.Validate.BigKeyBudget.Duration, 2 * time.Second},
		{"backup_max_age", inv.Validate.BackupMaxAge.Duration, 24 * time.Hour},
		{"service", inv.Provision.Service, "auto"},
		{"install", inv.Provision.Install, "apt"},
		{"kernel_tuning", *inv.Provision.KernelTuning, true},
		{"user", inv.Provision.User + ":" + inv.Provision.Group, "redis:redis"},
		{"paths", inv.Provision.Paths, Paths{"/etc/redis/cluster", "/var/lib/redis", "/var/log/redis", "/var/run/redis"}},
		{"ssh", inv.Servers[0].SSH.User + ":" + string(rune('0'+inv.Servers[0].SSH.Port/10)) + string(rune('0'+inv.Servers[0].SSH.Port%10)), "root:22"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseKeepsExplicitValuesAndInheritsSSH(t *testing.T) {
	text := valid + `ssh: {user: ubuntu}
gates:
  latency_p99_ms: {hold: 30}
  hold_timeout: 90s
provision: {kernel_tuning: false}
rebalance: {pause_between_batches: 1m30s}
`
	text = strings.Replace(text, "  - name: server2\n", "  - name: server2\n    ssh: {user: admin, port: 2222}\n", 1)
	inv, err := Parse("inv.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if s := inv.Servers[0].SSH; s.User != "ubuntu" || s.Port != 22 {
		t.Errorf("server1 ssh = %+v, want ubuntu:22 inherited", s)
	}
	if s := inv.Servers[1].SSH; s.User != "admin" || s.Port != 2222 || s.Line != 11 {
		t.Errorf("server2 ssh = %+v, want admin:2222 at line 11", s)
	}
	if g := inv.Gates.LatencyP99MS; g.Hold != 30 || g.Abort != 200 {
		t.Errorf("p99 = %+v, want hold 30 and default abort 200", g)
	}
	if inv.Gates.HoldTimeout.Duration != 90*time.Second || inv.Rebalance.PauseBetweenBatches.Duration != 90*time.Second {
		t.Errorf("durations = %v, %v", inv.Gates.HoldTimeout, inv.Rebalance.PauseBetweenBatches)
	}
	if *inv.Provision.KernelTuning {
		t.Error("kernel_tuning: false was overridden by the default")
	}
}

func TestTestdataParses(t *testing.T) {
	for _, name := range []string{"sandbox-3x2.yaml", "sandbox-3x2.json", "sandbox-5x2.yaml", "prod-3x2.yaml", "prod-5x2.yaml"} {
		t.Run(name, func(t *testing.T) {
			inv, err := Load(filepath.Join(inventories, name))
			if err != nil {
				t.Fatal(err)
			}
			if got := Check(inv, nil); len(got) != 0 {
				t.Errorf("findings on a valid inventory: %+v", got)
			}
		})
	}
}

func TestJSONEqualsYAML(t *testing.T) {
	y, err := Load(filepath.Join(inventories, "sandbox-3x2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := Load(filepath.Join(inventories, "sandbox-3x2.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Line and Source are json:"-", so the encodings compare everything
	// else, defaults included.
	yb, _ := json.Marshal(y)
	jb, _ := json.Marshal(j)
	if string(yb) != string(jb) {
		t.Errorf("YAML and JSON differ:\n%s\n%s", yb, jb)
	}
	if j.Servers[2].Nodes[1].Line != 26 {
		t.Errorf("JSON node line = %d, want 26", j.Servers[2].Nodes[1].Line)
	}
	if !strings.Contains(string(yb), `"hold_timeout":"10m0s"`) {
		t.Errorf("Duration not marshalled as a string: %s", yb)
	}
}

func TestDurationJSONRoundTrip(t *testing.T) {
	var d Duration
	if err := json.Unmarshal([]byte(`"1h30m"`), &d); err != nil || d.Duration != 90*time.Minute {
		t.Fatalf("got %v, %v", d, err)
	}
	if err := json.Unmarshal([]byte(`90`), &d); err == nil {
		t.Error("a bare number was accepted as a duration")
	}
	if err := json.Unmarshal([]byte(`"soon"`), &d); err == nil {
		t.Error("an invalid duration was accepted")
	}
	b, _ := json.Marshal(Duration{5 * time.Second})
	if string(b) != `"5s"` {
		t.Errorf("marshal = %s", b)
	}
}

func TestFromEnv(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "inv.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(valid, "name: t", "name: from-file", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	flag := filepath.Join(dir, "flag.yaml")
	if err := os.WriteFile(flag, []byte(strings.Replace(valid, "name: t", "name: from-flag", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvInventoryFile: file, EnvInventory: strings.Replace(valid, "name: t", "name: inline", 1)}
	getenv := func(k string) string { return env[k] }

	inv, err := FromEnv(getenv, flag)
	if err != nil || inv.Cluster.Name != "from-flag" || inv.Source != flag {
		t.Fatalf("flag: %v %v", inv, err)
	}
	inv, err = FromEnv(getenv, "")
	if err != nil || inv.Cluster.Name != "from-file" {
		t.Fatalf("file: %v", err)
	}
	delete(env, EnvInventoryFile)
	inv, err = FromEnv(getenv, "")
	if err != nil || inv.Cluster.Name != "inline" || inv.Source != "SLOTSHIFT_INVENTORY" {
		t.Fatalf("inline: %+v %v", inv, err)
	}
	delete(env, EnvInventory)
	if _, err := FromEnv(getenv, ""); !errors.Is(err, ErrNoInventory) {
		t.Fatalf("none: %v", err)
	}
	if _, err := FromEnv(getenv, filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}
	env[EnvInventory] = "version: 1\nservers: [}"
	_, err = FromEnv(getenv, "")
	if ps := problems(t, err); ps[0].File != "SLOTSHIFT_INVENTORY" || ps[0].Line != 2 {
		t.Errorf("inline problem = %+v", ps[0])
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"port", "role", "replica_of"}
	for key, want := range map[string]string{"prot": "port", "Port": "port", "rol": "role", "replicaof": "replica_of", "replica-of": "replica_of", "ports": "port", "xyz": "", "address": ""} {
		if got := suggest(key, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}
