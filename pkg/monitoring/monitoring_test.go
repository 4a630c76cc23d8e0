package monitoring

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/slotshift/slotshift/pkg/inventory"
)

func parse(t *testing.T, text string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Parse("inventory.yml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// twoServers has its own gates, a top-level first exporter port, a
// server with its own and a node with its own.
const twoServers = `version: 1
cluster: {name: "cache \"eu\""}
monitoring: {exporter_port: 9200}
servers:
  - name: a
    address: 10.0.0.1
    nodes: [{port: 7000, role: master}, {port: 7001, role: replica, replica_of: "b:7000", exporter_port: 9999}]
  - name: b
    address: 10.0.0.2
    monitoring: {exporter_port: 9300}
    nodes: [{port: 7000, role: master}, {port: 7001, role: replica, replica_of: "a:7000"}]
gates:
  cpu_percent: {hold: 60, abort: 90}
  replication_lag_ms: {hold: 2000, abort: 10000}
`

func TestTargetGroups(t *testing.T) {
	inv := parse(t, twoServers)
	got := TargetGroups(inv)
	want := []struct{ target, server, node, role string }{
		{"10.0.0.1:9200", "a", "10.0.0.1:7000", "master"},
		{"10.0.0.1:9999", "a", "10.0.0.1:7001", "replica"},
		{"10.0.0.2:9300", "b", "10.0.0.2:7000", "master"},
		{"10.0.0.2:9301", "b", "10.0.0.2:7001", "replica"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d groups, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		l := map[string]string{"cluster": `cache "eu"`, "server": w.server, "node": w.node, "inventory_role": w.role}
		if len(g.Targets) != 1 || g.Targets[0] != w.target || fmt.Sprint(g.Labels) != fmt.Sprint(l) {
			t.Errorf("group %d = %+v, want %s %v", i, g, w.target, l)
		}
	}
}

func TestRulesFollowTheGates(t *testing.T) {
	inv := parse(t, twoServers)
	data, n, err := Rules(inv, Options{ScrapeInterval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Groups) != 1 || len(f.Groups[0].Rules) != n {
		t.Fatalf("groups %+v, want one group of %d rules", f.Groups, n)
	}
	byGate := map[string][]Rule{}
	for _, r := range f.Groups[0].Rules {
		// Every expression is limited to this cluster, quotes escaped.
		if !strings.Contains(r.Expr, `cluster="cache \"eu\""`) {
			t.Errorf("%s: expression not limited to the cluster: %s", r.Alert, r.Expr)
		}
		if s := r.Labels["severity"]; s != SeverityWarning && s != SeverityCritical {
			t.Errorf("%s: severity %q", r.Alert, s)
		}
		if r.For == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: missing for, summary or description: %+v", r.Alert, r)
		}
		if g := r.Labels["gate"]; g != "" {
			byGate[g] = append(byGate[g], r)
		}
	}
	for _, tc := range []struct {
		gate, warn, crit, window string
	}{
		{"cpu_percent", "> 60", "> 90", "[2m]"}, // four 30 s scrapes
		{"memory_percent", "> 80", "> 95", ""},  // defaults
		{"latency_avg_ms", "> 5", "> 50", "[2m]"},
		{"latency_p99_ms", "> 20", "> 200", ""},
		{"replication_lag_ms", "> 2000", "> 10000", "[2m]"},
	} {
		rs := byGate[tc.gate]
		if len(rs) != 2 {
			t.Errorf("gate %s: %d rules, want a warning and a critical", tc.gate, len(rs))
			continue
		}
		for i, suffix := range []string{tc.warn, tc.crit} {
			if !strings.HasSuffix(rs[i].Expr, suffix) || !strings.Contains(rs[i].Expr, tc.window) {
				t.Errorf("gate %s %s: expr %q, want it to end with %q over %s", tc.gate, rs[i].Labels["severity"], rs[i].Expr, suffix, tc.window)
			}
		}
	}
	for _, alert := range []string{"RedisDown", "RedisClusterStateFail", "RedisClusterSlotsFail", "RedisClusterSlotsNotOK", "RedisTargetsMissing"} {
		if !strings.Contains(string(data), "alert: "+alert+"\n") {
			t.Errorf("no %s alert", alert)
		}
	}
	if !strings.Contains(string(data), "< 4\n") {
		t.Errorf("RedisTargetsMissing does not compare with the 4 nodes")
	}
}

// TestDashboardShowsEveryNode checks the dashboard's JSON model: unique
// panel ids, panels within the 24-column grid and not overlapping, every
// query on the datasource variable, and one line of panels per node whose
// queries select that node.
func TestDashboardShowsEveryNode(t *testing.T) {
	inv := load(t, "prod-5x2.yaml")
	data, n, err := Dashboard(inv)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Panels) != n || d.UID == "" || len(d.UID) > maxUIDChars || d.Title == "" || d.SchemaVersion == 0 {
		t.Fatalf("dashboard header: uid %q title %q schema %d, %d panels (reported %d)", d.UID, d.Title, d.SchemaVersion, len(d.Panels), n)
	}
	if len(d.Templating.List) != 1 || d.Templating.List[0].Name != DatasourceVar || d.Templating.List[0].Type != "datasource" {
		t.Fatalf("templating: %+v", d.Templating)
	}
	ids := map[int]bool{}
	cells := map[[2]int]int{} // (x, y) → panel id
	perNode := map[string]int{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > gridWidth {
			t.Errorf("panel %d %q: gridPos %+v outside the grid", p.ID, p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, taken := cells[[2]int{x, y}]; taken {
					t.Fatalf("panels %d and %d overlap at (%d,%d)", other, p.ID, x, y)
				}
				cells[[2]int{x, y}] = p.ID
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %d %q: datasource %+v, %d targets", p.ID, p.Title, p.Datasource, len(p.Targets))
		}
		for _, q := range p.Targets {
			if q.Datasource == nil || q.Datasource.UID != "${datasource}" || q.RefID == "" {
				t.Errorf("panel %d: query %+v", p.ID, q)
			}
		}
		for _, r := range inv.Nodes() {
			if strings.Contains(p.Targets[0].Expr, `node="`+r.Addr()+`"`) {
				perNode[r.Addr()]++
			}
		}
	}
	for _, r := range inv.Nodes() {
		if perNode[r.Addr()] != nodePanels {
			t.Errorf("node %s: %d panels select it, want %d", r.Name(), perNode[r.Addr()], nodePanels)
		}
	}
	rows := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			rows++
		}
	}
	if rows != 1+len(inv.Servers) {
		t.Errorf("%d rows, want one for the cluster and one per server (%d)", rows, 1+len(inv.Servers))
	}
}

func TestGenerateNeedsAClusterName(t *testing.T) {
	inv := parse(t, strings.Replace(twoServers, `cluster: {name: "cache \"eu\""}`, "cluster: {node_timeout_ms: 5000}", 1))
	if _, err := Generate(inv, Options{}); !errors.Is(err, ErrNoClusterName) {
		t.Fatalf("Generate without a cluster name: %v, want ErrNoClusterName", err)
	}
}

func TestPromDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		15 * time.Second: "15s", time.Minute: "1m", 90 * time.Second: "1m30s", time.Hour: "1h",
		1500 * time.Millisecond: "1s500ms", 0: "0s", time.Microsecond: "1ms",
	} {
		if got := promDuration(d); got != want {
			t.Errorf("promDuration(%s) = %q, want %q", d, got, want)
		}
	}
	for iv, want := range map[time.Duration]string{0: "1m", time.Second: "1m", 30 * time.Second: "2m", 20 * time.Second: "1m20s"} {
		if got := (Options{ScrapeInterval: iv}).withDefaults().window(); got != want {
			t.Errorf("window for a %s scrape = %q, want %q", iv, got, want)
		}
	}
}
