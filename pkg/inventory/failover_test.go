package inventory

import (
	"strings"
	"testing"
	"time"
)

func TestFailoverMaxWriteOutage(t *testing.T) {
	inv, err := Parse("inventory.yml", []byte(valid+"failover:\n  max_write_outage: 2500ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Failover.MaxWriteOutage.Duration != 2500*time.Millisecond || inv.Failover.Line != 21 {
		t.Errorf("failover = %+v, want max_write_outage 2.5s on line 21", inv.Failover)
	}
	inv, err = Parse("inventory.json", []byte(`{"version": 1, "servers": [{"name": "s", "address": "10.0.0.1",
 "nodes": [{"port": 7000, "role": "master"}]}], "failover": {"max_write_outage": "1ms"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Failover.MaxWriteOutage.Duration != time.Millisecond {
		t.Errorf("JSON max_write_outage = %s, want 1ms", inv.Failover.MaxWriteOutage)
	}
	inv, err = Parse("inventory.yml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Failover.MaxWriteOutage.Duration != DefaultMaxWriteOutage || DefaultMaxWriteOutage != 5*time.Second {
		t.Errorf("default max_write_outage = %s, want 5s", inv.Failover.MaxWriteOutage)
	}
}

func TestFailoverMaxWriteOutageErrors(t *testing.T) {
	for _, tc := range []struct {
		name, tail, field, contains string
		line                        int
	}{
		{"unknown key", "failover:\n  max_write_outge: 1s\n", "failover.max_write_outge", `did you mean "max_write_outage"?`, 22},
		{"not a duration", "failover:\n  max_write_outage: 5\n", "failover.max_write_outage", `want a duration like "10m"`, 22},
		{"negative", "failover: {max_write_outage: -1s}\n", "failover.max_write_outage", "must not be negative", 21},
		{"not a mapping", "failover: 5s\n", "failover", "want a mapping", 21},
		{"misspelt section", "failovr: {max_write_outage: 1s}\n", "failovr", `did you mean "failover"?`, 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("inventory.yml", []byte(valid+tc.tail))
			if err == nil {
				t.Fatal("accepted")
			}
			ps := problems(t, err)
			if len(ps) != 1 {
				t.Fatalf("problems %+v, want 1", ps)
			}
			p := ps[0]
			if p.Field != tc.field || p.Line != tc.line || !strings.Contains(p.Message, tc.contains) {
				t.Errorf("problem %s:%d %s: %s; want field %s line %d containing %q", p.File, p.Line, p.Field, p.Message, tc.field, tc.line, tc.contains)
			}
		})
	}
}
