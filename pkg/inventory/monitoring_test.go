package inventory

import (
	"slices"
	"strings"
	"testing"
)

func TestExporterPorts(t *testing.T) {
	tests := []struct {
		name string
		text func(t *testing.T) string
		want []int // in Nodes() order
	}{
		{"one address: one run for all", func(*testing.T) string { return valid },
			[]int{9121, 9122, 9123, 9124, 9125, 9126}},
		{"own addresses: each server from 9121", func(t *testing.T) string {
			return strings.Replace(strings.Replace(valid, "127.0.0.1", "10.0.0.1", 1), "127.0.0.1", "10.0.0.2", 1)
		}, []int{9121, 9122, 9121, 9122, 9121, 9122}},
		{"top-level first port", func(*testing.T) string { return valid + "monitoring: {exporter_port: 9200}\n" },
			[]int{9200, 9201, 9202, 9203, 9204, 9205}},
		{"server override starts its own run", func(t *testing.T) string {
			return edit(t, "  - name: server2\n", "  - name: server2\n    monitoring: {exporter_port: 9300}\n")
		}, []int{9121, 9122, 9300, 9301, 9123, 9124}},
		{"a node's own port takes no place in the run", func(t *testing.T) string {
			return edit(t, "{port: 7000, role: master}", "{port: 7000, role: master, exporter_port: 9900}")
		}, []int{9900, 9121, 9122, 9123, 9124, 9125}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := mustParse(t, tc.text(t))
			if got := inv.ExporterPorts(); !slices.Equal(got, tc.want) {
				t.Errorf("ExporterPorts = %v, want %v", got, tc.want)
			}
			for _, f := range Check(inv, nil) {
				if f.ID == RuleExporterPorts {
					t.Errorf("unexpected finding: %+v", f)
				}
			}
		})
	}
}

func TestExporterPortRules(t *testing.T) {
	tests := []struct {
		name     string
		text     func(t *testing.T) string
		line     int
		field    string
		node     string
		contains []string
	}{
		{"top level out of range", func(*testing.T) string { return valid + "monitoring: {exporter_port: 70000}\n" },
			21, "monitoring.exporter_port", "", []string{"70000 is out of range 1..65535"}},
		{"top level negative", func(*testing.T) string { return valid + "monitoring:\n  exporter_port: -1\n" },
			21, "monitoring.exporter_port", "", []string{"-1 is out of range"}},
		{"server override out of range", func(t *testing.T) string {
			return edit(t, "  - name: server2\n", "  - name: server2\n    monitoring: {exporter_port: 0x10000}\n")
		}, 11, "servers[1].monitoring.exporter_port", "server2", []string{"server server2", "65536 is out of range"}},
		{"derived run past 65535", func(t *testing.T) string {
			return edit(t, "  - name: server3\n", "  - name: server3\n    monitoring: {exporter_port: 65535}\n")
		}, 21, "servers[2].nodes[1].exporter_port", "127.0.0.1:7005", []string{"exporter port 65536 (derived from the first exporter port 65535)"}},
		{"own port out of range", func(t *testing.T) string {
			return edit(t, "{port: 7004, role: master}", "{port: 7004, role: master, exporter_port: 99999}")
		}, 19, "servers[2].nodes[0].exporter_port", "127.0.0.1:7004", []string{"node server3:7004", "99999 (exporter_port)"}},
		{"own port on another exporter", func(t *testing.T) string {
			return edit(t, "{port: 7004, role: master}", "{port: 7004, role: master, exporter_port: 9121}")
		}, 19, "servers[2].nodes[0].exporter_port", "127.0.0.1:7004",
			[]string{"127.0.0.1:9121 is already taken by the exporter of node server1:7000 (line 8)"}},
		{"derived port on a Redis port", func(*testing.T) string { return valid + "monitoring: {exporter_port: 7005}\n" },
			8, "servers[0].nodes[0].exporter_port", "127.0.0.1:7000", []string{"127.0.0.1:7005 is already taken by node server3:7005 (line 20)"}},
		{"own port on a cluster bus", func(t *testing.T) string {
			return edit(t, "{port: 7000, role: master}", "{port: 7000, role: master, exporter_port: 17005}")
		}, 8, "servers[0].nodes[0].exporter_port", "127.0.0.1:7000", []string{"taken by the cluster bus of node server3:7005 (line 20)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := mustParse(t, tc.text(t))
			var got []Finding
			for _, f := range Check(inv, nil) {
				if f.ID == RuleExporterPorts {
					got = append(got, f)
				}
			}
			if len(got) != 1 {
				t.Fatalf("want one %s finding, got %+v", RuleExporterPorts, got)
			}
			f := got[0]
			if f.Severity != SeverityFail || f.Line != tc.line || f.Field != tc.field || f.Node != tc.node || f.File != "inv.yaml" {
				t.Errorf("finding = %+v\nwant line %d field %q node %q", f, tc.line, tc.field, tc.node)
			}
			for _, s := range tc.contains {
				if !strings.Contains(f.Message, s) {
					t.Errorf("message %q lacks %q", f.Message, s)
				}
			}
			// Policy, not structure: other stages still run.
			if len(Invalid(got)) != 0 {
				t.Errorf("exporter findings must not make the inventory unusable: %+v", Invalid(got))
			}
		})
	}
}

func TestMonitoringSchemaIsStrict(t *testing.T) {
	for _, tc := range []struct {
		name, text      string
		line            int
		field, contains string
	}{
		{"typo at the top level", valid + "monitoring: {exporter_prot: 9121}\n", 21, "monitoring.exporter_prot", `did you mean "exporter_port"?`},
		{"typo on a node", strings.Replace(valid, "{port: 7000, role: master}", "{port: 7000, role: master, exporterport: 1}", 1),
			8, "servers[0].nodes[0].exporterport", `did you mean "exporter_port"?`},
		{"string port", valid + "monitoring: {exporter_port: \"9121\"}\n", 21, "monitoring.exporter_port", "(remove the quotes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("inv.yaml", []byte(tc.text))
			ps := problems(t, err)
			if p := ps[0]; p.Line != tc.line || p.Field != tc.field || !strings.Contains(p.Message, tc.contains) {
				t.Errorf("problem = %+v", p)
			}
		})
	}
}
