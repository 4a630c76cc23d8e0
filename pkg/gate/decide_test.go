package gate

import (
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/inventory"
)

const (
	m1 = "127.0.0.1:7000"
	m2 = "127.0.0.1:7002"
	r1 = "127.0.0.1:7001"
)

func gates() inventory.Gates {
	return inventory.Gates{
		LatencyAvgMS:     inventory.Threshold{Hold: 5, Abort: 50},
		LatencyP99MS:     inventory.Threshold{Hold: 20, Abort: 200},
		ReplicationLagMS: inventory.Threshold{Hold: 500, Abort: 5000},
		CPUPercent:       inventory.Threshold{Hold: 70, Abort: 95},
		MemoryPercent:    inventory.Threshold{Hold: 80, Abort: 95},
	}
}

// green is a complete, healthy reading of two masters and one replica.
func green() Readings {
	return Readings{
		Masters:       []string{m2, m1},
		Replicas:      []string{r1},
		Latency:       map[string]Latency{m1: {AvgMS: 0.2, P99MS: 1, Samples: 50}, m2: {AvgMS: 0.3, P99MS: 2, Samples: 50}},
		ReplLagMS:     map[string]float64{r1: 0},
		CPUPercent:    map[string]float64{m1: 3, m2: 4, r1: 1},
		MemoryPercent: map[string]float64{m1: 10, m2: 10, r1: 10},
		ClusterState:  map[string]string{m1: "ok", m2: "ok", r1: "ok"},
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Readings)
		gates   func(*inventory.Gates)
		verdict Verdict
		first   string // substring of Reasons[0]; "" when proceeding
		nReason int
	}{
		{name: "all green", edit: func(*Readings) {}, verdict: Proceed},
		{name: "p99 over hold", edit: func(r *Readings) { r.Latency[m2] = Latency{AvgMS: 1, P99MS: 27.1, Samples: 9} },
			verdict: Hold, first: "latency_p99 27.1ms on 127.0.0.1:7002 > hold 20ms", nReason: 1},
		{name: "p99 equal to hold is green", edit: func(r *Readings) { r.Latency[m2] = Latency{AvgMS: 1, P99MS: 20, Samples: 9} }, verdict: Proceed},
		{name: "p99 over abort", edit: func(r *Readings) { r.Latency[m1] = Latency{AvgMS: 1, P99MS: 250, Samples: 9} },
			verdict: Abort, first: "latency_p99 250ms on 127.0.0.1:7000 > abort 200ms", nReason: 1},
		{name: "avg over hold", edit: func(r *Readings) { r.Latency[m1] = Latency{AvgMS: 6, P99MS: 10, Samples: 9} },
			verdict: Hold, first: "latency_avg 6ms on 127.0.0.1:7000 > hold 5ms", nReason: 1},
		{name: "abort reason listed before an earlier hold", edit: func(r *Readings) {
			r.Latency[m1] = Latency{AvgMS: 6, P99MS: 10, Samples: 9}
			r.MemoryPercent[r1] = 96
		}, verdict: Abort, first: "memory 96% on 127.0.0.1:7001 > abort 95%", nReason: 2},
		{name: "replication lag hold", edit: func(r *Readings) { r.ReplLagMS[r1] = 600 },
			verdict: Hold, first: "replication_lag 600ms on 127.0.0.1:7001 > hold 500ms", nReason: 1},
		{name: "replication lag abort", edit: func(r *Readings) { r.ReplLagMS[r1] = 6000 },
			verdict: Abort, first: "replication_lag 6000ms on 127.0.0.1:7001 > abort 5000ms", nReason: 1},
		{name: "cpu hold", edit: func(r *Readings) { r.CPUPercent[m1] = 71.25 },
			verdict: Hold, first: "cpu 71.2% on 127.0.0.1:7000 > hold 70%", nReason: 1},
		{name: "cpu abort", edit: func(r *Readings) { r.CPUPercent[m2] = 99 },
			verdict: Abort, first: "cpu 99% on 127.0.0.1:7002 > abort 95%", nReason: 1},
		{name: "memory hold", edit: func(r *Readings) { r.MemoryPercent[m2] = 81 },
			verdict: Hold, first: "memory 81% on 127.0.0.1:7002 > hold 80%", nReason: 1},
		{name: "no latency yet", edit: func(r *Readings) { delete(r.Latency, m1) },
			verdict: Hold, first: "latency on 127.0.0.1:7000: no reading yet", nReason: 1},
		{name: "zero samples is no reading", edit: func(r *Readings) { r.Latency[m1] = Latency{} },
			verdict: Hold, first: "no reading yet", nReason: 1},
		{name: "no lag yet", edit: func(r *Readings) { delete(r.ReplLagMS, r1) },
			verdict: Hold, first: "replication_lag on 127.0.0.1:7001: no reading yet", nReason: 1},
		{name: "no cpu yet", edit: func(r *Readings) { delete(r.CPUPercent, r1) },
			verdict: Hold, first: "cpu on 127.0.0.1:7001: no reading yet", nReason: 1},
		{name: "no memory yet", edit: func(r *Readings) { delete(r.MemoryPercent, m1) },
			verdict: Hold, first: "memory on 127.0.0.1:7000: no reading yet", nReason: 1},
		{name: "empty readings hold", edit: func(r *Readings) { *r = Readings{} },
			verdict: Hold, first: "no reading yet", nReason: 1},
		{name: "cluster_state fail holds, never aborts", edit: func(r *Readings) { r.ClusterState[m2] = "fail" },
			verdict: Hold, first: "cluster_state fail on 127.0.0.1:7002", nReason: 1},
		{name: "cluster_state missing", edit: func(r *Readings) { delete(r.ClusterState, r1) },
			verdict: Hold, first: "cluster_state on 127.0.0.1:7001: no reading yet", nReason: 1},
		{name: "failing node holds", edit: func(r *Readings) { r.Failing = []string{"127.0.0.1:7004 master,fail?"} },
			verdict: Hold, first: "failing node 127.0.0.1:7004 master,fail?", nReason: 1},
		{name: "probe error holds", edit: func(r *Readings) { r.Errors = map[string]string{m1: "latency: PING: i/o timeout"} },
			verdict: Hold, first: "probe error on 127.0.0.1:7000: latency: PING: i/o timeout", nReason: 1},
		{name: "disabled gate ignores missing and red values", edit: func(r *Readings) {
			delete(r.CPUPercent, m1)
			r.CPUPercent[m2] = 100
		}, gates: func(g *inventory.Gates) { g.CPUPercent = inventory.Threshold{} }, verdict: Proceed},
		{name: "abort only limit", edit: func(r *Readings) { r.CPUPercent[m2] = 90 },
			gates: func(g *inventory.Gates) { g.CPUPercent = inventory.Threshold{Abort: 95} }, verdict: Proceed},
		{name: "low hold threshold", edit: func(*Readings) {},
			gates: func(g *inventory.Gates) { g.LatencyAvgMS.Hold = 0.1 }, verdict: Hold, first: "latency_avg 0.20ms on 127.0.0.1:7000 > hold 0.10ms", nReason: 2},
		{name: "several holds sorted by node", edit: func(r *Readings) {
			r.Latency[m2] = Latency{AvgMS: 1, P99MS: 30, Samples: 1}
			r.Latency[m1] = Latency{AvgMS: 1, P99MS: 40, Samples: 1}
		}, verdict: Hold, first: "latency_p99 40ms on 127.0.0.1:7000", nReason: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := green()
			tt.edit(&r)
			g := gates()
			if tt.gates != nil {
				tt.gates(&g)
			}
			d := Decide(r, g)
			if d.Verdict != tt.verdict {
				t.Fatalf("verdict = %v, want %v (reasons %q)", d.Verdict, tt.verdict, d.Reasons)
			}
			if tt.verdict == Proceed {
				if len(d.Reasons) != 0 || d.String() != "green" {
					t.Fatalf("proceed with reasons %q / %q", d.Reasons, d.String())
				}
				return
			}
			if len(d.Reasons) != tt.nReason {
				t.Errorf("reasons = %q, want %d", d.Reasons, tt.nReason)
			}
			if len(d.Reasons) == 0 || !strings.Contains(d.Reasons[0], tt.first) {
				t.Errorf("first reason = %q, want it to contain %q", d.Reason(), tt.first)
			}
			if !strings.HasPrefix(d.String(), tt.verdict.String()+": ") {
				t.Errorf("String() = %q", d.String())
			}
		})
	}
}

func TestDecideReadingsForReport(t *testing.T) {
	r := green()
	r.Latency[m1] = Latency{AvgMS: 1, P99MS: 27, Samples: 3}
	d := Decide(r, gates())
	var found bool
	for _, gr := range d.Readings {
		if gr.Gate == GateLatencyP99 && gr.Node == m1 {
			found = true
			if gr.Value != 27 || gr.Hold != 20 || gr.Abort != 200 || gr.Decision != "hold" {
				t.Errorf("reading = %+v", gr)
			}
		}
		if gr.Gate == GateReplLag && gr.Node == r1 && gr.Decision != "proceed" {
			t.Errorf("lag reading = %+v", gr)
		}
	}
	if !found {
		t.Fatalf("no latency_p99 reading for %s in %+v", m1, d.Readings)
	}
	// 2 masters x 2 latency + 1 lag + 3 nodes x (cpu, memory)
	if len(d.Readings) != 11 {
		t.Errorf("got %d readings, want 11", len(d.Readings))
	}
}
