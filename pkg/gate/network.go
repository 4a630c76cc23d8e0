package gate

import (
	"context"
	"fmt"
	"sync"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
)

// GateNetwork is the network bandwidth gate; its readings name a server.
const GateNetwork = "network_percent"

// Link is one server's network link and the nodes (host:port) sharing it.
type Link struct {
	Mbps  float64
	Nodes []string
}

// Links returns the link of every server that declares link_mbps, by
// server name; servers without one are not gated on the network.
func Links(inv *inventory.Inventory) map[string]Link {
	out := map[string]Link{}
	for _, n := range inv.Nodes() {
		s, ok := inv.Server(n.Server)
		if !ok || s.LinkMbps <= 0 {
			continue
		}
		l := out[n.Server]
		l.Mbps = s.LinkMbps
		l.Nodes = append(l.Nodes, n.Addr())
		out[n.Server] = l
	}
	return out
}

// mbitPerKiB turns INFO's KiB/s into Mbit/s: 1024 bytes of 8 bits, per 10^6.
const mbitPerKiB = 1024 * 8 / 1e6

// LinkPercent is the share of a link of mbps Mbit/s that traffic of kibps
// KiB/s (INFO's instantaneous_*_kbps) uses, in percent.
func LinkPercent(kibps, mbps float64) float64 {
	if mbps <= 0 {
		return 0
	}
	return kibps * mbitPerKiB / mbps * 100
}

// NetworkPercent sums input and output of every node of each linked
// server and returns the server's link use in percent. A server with a
// node not read yet has no value.
func NetworkPercent(links map[string]Link, traffic map[string]admin.Traffic) map[string]float64 {
	out := map[string]float64{}
	for name, l := range links {
		var sum float64
		complete := true
		for _, a := range l.Nodes {
			t, ok := traffic[a]
			if !ok {
				complete = false
				break
			}
			sum += t.InputKBps + t.OutputKBps
		}
		if complete {
			out[name] = LinkPercent(sum, l.Mbps)
		}
	}
	return out
}

// networkProbe keeps the latest traffic of every node on a linked server.
type networkProbe struct {
	links   map[string]Link
	mu      sync.Mutex
	traffic map[string]admin.Traffic
}

func newNetworkProbe(links map[string]Link) *networkProbe {
	return &networkProbe{links: links, traffic: map[string]admin.Traffic{}}
}

// start runs one probe loop per node of a linked server.
func (n *networkProbe) start(ctx context.Context, m *Monitor) {
	for _, l := range n.links {
		for _, a := range l.Nodes {
			m.loop(ctx, m.opts.InfoInterval, func(ctx context.Context) { n.probe(ctx, m, a) })
		}
	}
}

func (n *networkProbe) probe(ctx context.Context, m *Monitor, addr string) {
	t, err := m.pool.Traffic(ctx, addr)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		m.opts.Log.Debug("network probe failed", "node", addr, "err", err)
		err = fmt.Errorf("INFO stats: %w", err)
	} else {
		n.mu.Lock()
		n.traffic[addr] = t
		n.mu.Unlock()
	}
	m.setErr(addr, "network", err)
}

// percent is every linked server's latest link use.
func (n *networkProbe) percent() map[string]float64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return NetworkPercent(n.links, n.traffic)
}

// servers lists the linked servers.
func (n *networkProbe) servers() []string {
	var out []string
	for name := range n.links {
		out = append(out, name)
	}
	return sorted(out)
}

// linkedServers are the servers the network gate grades, or none when the
// gate is off.
func linkedServers(r Readings, g inventory.Gates) []string {
	if !enabled(g.NetworkPercent) {
		return nil
	}
	return sorted(r.Linked)
}
