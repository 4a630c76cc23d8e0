package inventory

import (
	"strings"
	"testing"
)

func TestWindowAndNetworkParse(t *testing.T) {
	text := strings.Replace(valid, "    address: 127.0.0.1\n", "    address: 127.0.0.1\n    link_mbps: 1000\n", 1) +
		"gates:\n  network_percent: {hold: 50, abort: 80}\n  window: {start: \"23:00\", end: \"01:00\", timezone: Europe/Berlin}\n"
	inv, err := Parse("inv.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	w := inv.Gates.Window
	if w == nil || w.Start != "23:00" || w.End != "01:00" || w.Timezone != "Europe/Berlin" || w.Line != 24 {
		t.Errorf("window = %+v, want 23:00-01:00 Europe/Berlin at line 24", w)
	}
	if inv.Servers[0].LinkMbps != 1000 || inv.Servers[1].LinkMbps != 0 {
		t.Errorf("link_mbps = %g, %g", inv.Servers[0].LinkMbps, inv.Servers[1].LinkMbps)
	}
	if g := inv.Gates.NetworkPercent; g.Hold != 50 || g.Abort != 80 {
		t.Errorf("network_percent = %+v", g)
	}
	// Unquoted times are strings too (YAML 1.2 has no base-60 numbers).
	plain, err := Parse("inv.yaml", []byte(valid+"gates:\n  window: {start: 02:00, end: 04:00}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if plain.Gates.Window.Start != "02:00" || plain.Gates.NetworkPercent != DefaultNetworkPercent {
		t.Errorf("gates = %+v, want window 02:00 and the default network_percent", plain.Gates)
	}
	loc, err := plain.Gates.Window.Location()
	if err != nil || loc.String() != "UTC" {
		t.Errorf("default timezone = %v, %v; want UTC", loc, err)
	}
}

func TestWindowProblems(t *testing.T) {
	for _, tc := range []struct {
		window, field, msg string
	}{
		{`{start: "2:00", end: "04:00"}`, "gates.window.start", "want a time of day as HH:MM"},
		{`{start: "02:00", end: "25:00"}`, "gates.window.end", "want a time of day as HH:MM"},
		{`{start: "02:00", end: "04:60"}`, "gates.window.end", "want a time of day as HH:MM"},
		{`{end: "04:00"}`, "gates.window.start", "required"},
		{`{start: "02:00", end: "02:00"}`, "gates.window", "both 02:00"},
		{`{start: "02:00", end: "04:00", timezone: Mars/Olympus}`, "gates.window.timezone", "unknown timezone"},
	} {
		t.Run(tc.window, func(t *testing.T) {
			text := valid + "gates:\n  hold_timeout: 10m\n  window: " + tc.window + "\n"
			ps := problems(t, func() error { _, err := Parse("inv.yaml", []byte(text)); return err }())
			if len(ps) != 1 {
				t.Fatalf("problems %v, want one", ps)
			}
			p := ps[0]
			if p.Field != tc.field || p.Line != 23 || !strings.Contains(p.Message, tc.msg) {
				t.Errorf("problem %s, want %s at inv.yaml:23 saying %q", p, tc.field, tc.msg)
			}
		})
	}
}

func TestLinkMbpsAndNetworkRules(t *testing.T) {
	text := strings.Replace(valid, "    address: 127.0.0.1\n", "    address: 127.0.0.1\n    link_mbps: -1\n", 1)
	ps := problems(t, func() error { _, err := Parse("inv.yaml", []byte(text)); return err }())
	if len(ps) != 1 || ps[0].Field != "servers[0].link_mbps" || ps[0].Line != 5 {
		t.Errorf("problems %v, want servers[0].link_mbps at line 5", ps)
	}
	inv, err := Parse("inv.yaml", []byte(valid+"gates:\n  network_percent: {hold: 90, abort: 50}\n"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range Check(inv, nil) {
		if f.Field == "gates.network_percent" && f.Line == 22 && strings.Contains(f.Message, "must be below abort") {
			found = true
		}
	}
	if !found {
		t.Errorf("no gates.network_percent finding at line 22 in %v", Check(inv, nil))
	}
}
