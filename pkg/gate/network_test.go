package gate

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

func TestLinkPercent(t *testing.T) {
	for _, tc := range []struct {
		kibps, mbps, want float64
	}{
		// 122.0703125 KiB/s = 1,000,000 bit/s: all of a 1 Mbit/s link.
		{122.0703125, 1, 100},
		{61.03515625, 1, 50},
		// 1 GbE at half: 500 Mbit/s = 61035.15625 KiB/s.
		{61035.15625, 1000, 50},
		{0, 1000, 0},
		{100, 0, 0}, // no link: not gated
	} {
		if got := LinkPercent(tc.kibps, tc.mbps); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("LinkPercent(%g KiB/s, %g Mbit/s) = %g, want %g", tc.kibps, tc.mbps, got, tc.want)
		}
	}
}

func TestNetworkPercentSumsAServersNodes(t *testing.T) {
	links := map[string]Link{
		"server1": {Mbps: 10, Nodes: []string{"10.0.0.1:7000", "10.0.0.1:7001"}},
		"server2": {Mbps: 10, Nodes: []string{"10.0.0.2:7000", "10.0.0.2:7001"}},
	}
	traffic := map[string]admin.Traffic{
		"10.0.0.1:7000": {InputKBps: 200, OutputKBps: 100},
		"10.0.0.1:7001": {InputKBps: 310.3515625, OutputKBps: 0},
		"10.0.0.2:7000": {InputKBps: 1, OutputKBps: 1}, // 10.0.0.2:7001 not read yet
		"10.0.0.9:7000": {InputKBps: 1e6},              // on no linked server
	}
	got := NetworkPercent(links, traffic)
	// server1: 610.3515625 KiB/s = 5 Mbit/s of 10.
	if v, ok := got["server1"]; !ok || math.Abs(v-50) > 1e-9 {
		t.Errorf("server1 = %v (%v), want 50%%", v, ok)
	}
	if v, ok := got["server2"]; ok {
		t.Errorf("server2 = %v with a node unread, want no value", v)
	}
	if len(got) != 1 {
		t.Errorf("got %v, want only server1", got)
	}
}

func TestDecideNetwork(t *testing.T) {
	g := inventory.Gates{NetworkPercent: inventory.Threshold{Hold: 50, Abort: 90}}
	r := Readings{Masters: []string{m1}, ClusterState: map[string]string{m1: "ok"},
		Linked: []string{"server1", "server2", "server3"}, NetworkPercent: map[string]float64{"server1": 63, "server2": 95}}
	d := Decide(r, g)
	if d.Verdict != Abort {
		t.Fatalf("verdict %v, want abort: %v", d.Verdict, d.Reasons)
	}
	want := []string{"network 95% on server2 > abort 90%", "network 63% on server1 > hold 50%", "network on server3: no reading yet"}
	if strings.Join(d.Reasons, "|") != strings.Join(want, "|") {
		t.Errorf("reasons %q, want %q", d.Reasons, want)
	}
	found := false
	for _, x := range d.Readings {
		if x.Gate == GateNetwork && x.Node == "server1" && x.Value == 63 && x.Decision == "hold" {
			found = true
		}
	}
	if !found {
		t.Errorf("no network_percent reading for server1 in %+v", d.Readings)
	}
	g.NetworkPercent = inventory.Threshold{}
	if d := Decide(r, g); d.Verdict != Proceed {
		t.Errorf("with the gate off: %v", d)
	}
}

func TestLinksFromInventory(t *testing.T) {
	inv := &inventory.Inventory{Servers: []inventory.Server{
		{Name: "s1", Address: "10.0.0.1", LinkMbps: 1000, Nodes: []inventory.Node{{Port: 7000, Role: inventory.RoleMaster}, {Port: 7001, Role: inventory.RoleReplica}}},
		{Name: "s2", Address: "10.0.0.2", Nodes: []inventory.Node{{Port: 7000, Role: inventory.RoleMaster}}},
	}}
	got := Links(inv)
	if len(got) != 1 || got["s1"].Mbps != 1000 || strings.Join(got["s1"].Nodes, ",") != "10.0.0.1:7000,10.0.0.1:7001" {
		t.Errorf("Links = %+v, want s1 only with both its nodes", got)
	}
}

// TestNetworkGateHoldsUnderLoad drives a master with large SETs and checks
// that a 1 Mbit/s link makes the gate hold, naming the server.
func TestNetworkGateHoldsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	c := sandboxtest.Start(t, 4, sandboxtest.Options{})
	c.Form(t, 3)
	addrs := c.Addrs()
	// Form: the replica (node 3) follows master 1; both share "busy".
	links := map[string]Link{
		"busy": {Mbps: 1, Nodes: []string{addrs[1], addrs[3]}},
		"calm": {Mbps: 1000, Nodes: []string{addrs[0]}},
	}
	pool := admin.NewPool(admin.Options{Password: c.Password})
	t.Cleanup(func() { _ = pool.Close() })
	m := NewMonitor(pool, addrs[:3], map[string]string{addrs[3]: addrs[1]}, MonitorOptions{InfoInterval: 200 * time.Millisecond, Links: links})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m.Start(ctx)
	t.Cleanup(m.Close)
	g := inventory.Gates{NetworkPercent: inventory.Threshold{Hold: 50, Abort: 10000}}
	if d, err := m.Wait(ctx, g, 10*time.Second); err != nil || d.Verdict != Proceed {
		t.Fatalf("idle cluster: %v, %v", d, err)
	}

	// At most 400 SETs of 64 KiB for at most 4 s: tens of Mbit/s, where
	// 0.5 Mbit/s (61 KiB/s) already holds.
	value := strings.Repeat("x", 64<<10)
	cl := c.Client(1)
	key := ""
	for i := 0; i < 100 && key == ""; i++ { // a key master 1 serves (no MOVED)
		if k := fmt.Sprintf("net:%d", i); cl.Set(ctx, k, "", 0).Err() == nil {
			key = k
		}
	}
	if key == "" {
		t.Fatal("no key of 100 maps to master 1")
	}
	deadline := time.Now().Add(4 * time.Second)
	var held Decision
	for i := 0; i < 400 && time.Now().Before(deadline); i++ {
		if err := cl.Set(ctx, key, value, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if d := Decide(m.Readings(), g); d.Verdict == Hold {
			held = d
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if held.Verdict != Hold || !strings.Contains(held.Reason(), "on busy") {
		t.Fatalf("no network hold naming server busy under load: %v; readings %v", held, m.Readings().NetworkPercent)
	}
	if !strings.HasPrefix(held.Reason(), "network ") {
		t.Errorf("reason %q is not the network gate's", held.Reason())
	}
	if v := m.Readings().NetworkPercent["calm"]; v >= 50 {
		t.Errorf("the idle server reads %.1f%% of 1 Gbit/s", v)
	}
}
