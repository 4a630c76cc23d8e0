package plan

import (
	"os"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// TestPlanFromCapturedCluster plans 3 -> 4 from CLUSTER NODES captured from a
// real redis-server 7.0 cluster, plus a new master met in handshake.
func TestPlanFromCapturedCluster(t *testing.T) {
	b, err := os.ReadFile("../cluster/testdata/nodes_handshake.txt")
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cluster.ParseNodes(string(b))
	if err != nil {
		t.Fatal(err)
	}
	ms := FromNodes(nodes)
	if len(ms) != 3 {
		t.Fatalf("%d masters, want 3 (replicas and the handshake node left out)", len(ms))
	}
	ms = append(ms, Master{ID: strings.Repeat("9", 40), Addr: "127.0.0.1:31007", Weight: 1})
	fp := cluster.Fingerprint(nodes)
	p, err := PlanRebalance(ms, Options{Fingerprint: fp})
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, ms, p, DefaultBatchSlots)
	if p.Slots() != 4096 || p.Fingerprint != fp {
		t.Errorf("moved %d slots with fingerprint %q", p.Slots(), p.Fingerprint)
	}
	for _, m := range p.Moves {
		if m.ToAddr != "127.0.0.1:31007" || !strings.HasPrefix(m.FromAddr, "127.0.0.1:3100") {
			t.Errorf("move %v", m)
		}
	}
}
