package inventory

import (
	"fmt"
	"net"
	"strconv"
)

// DefaultExporterPort is redis_exporter's own default listen port: the
// first exporter port at an address when the inventory sets none.
const DefaultExporterPort = 9121

// maxTCPPort is the highest TCP port.
const maxTCPPort = 65535

// ExporterPorts returns each node's redis_exporter port, indexed like
// Nodes(). A node's own exporter_port wins. Otherwise the node takes the
// next port of a run that starts at its server's monitoring.exporter_port,
// or the top level's, or DefaultExporterPort: the n-th such node (from 0,
// in file order) at the same address with the same first port gets
// first+n. Servers on distinct machines thus all use 9121, 9122, …, and
// servers sharing an address (a sandbox on 127.0.0.1) get distinct ports.
// The ports are not checked here; Check reports ports out of range and
// ports that clash with another exporter or a Redis port.
func (inv *Inventory) ExporterPorts() []int {
	type run struct {
		address string
		first   int
	}
	next := map[run]int{}
	nodes := inv.Nodes()
	out := make([]int, len(nodes))
	for i, r := range nodes {
		if p := inv.Servers[r.ServerIndex].Nodes[r.NodeIndex].ExporterPort; p != 0 {
			out[i] = p
			continue
		}
		k := run{r.Address, inv.exporterBase(r.ServerIndex)}
		out[i] = k.first + next[k]
		next[k]++
	}
	return out
}

// exporterBase is the first exporter port for server si's derived ports.
func (inv *Inventory) exporterBase(si int) int {
	if p := inv.Servers[si].Monitoring.ExporterPort; p != 0 {
		return p
	}
	if p := inv.Monitoring.ExporterPort; p != 0 {
		return p
	}
	return DefaultExporterPort
}

// exporterPorts checks the exporter ports: each one written is within
// 1..65535, each derived one too, and no exporter shares its address and
// port with another exporter, a node or a node's cluster bus. The rule is
// policy, not structure: only validate and monitoring act on it, so an
// exporter clash never stops a stage that does not use the exporters.
func (c *checker) exporterPorts() {
	inv := c.inv
	badBase := map[int]bool{} // server index → its first port is invalid
	outOfRange := func(p int) bool { return p < 1 || p > maxTCPPort }
	if p := inv.Monitoring.ExporterPort; p != 0 && outOfRange(p) {
		c.add(RuleExporterPorts, SeverityFail, "monitoring.exporter_port", inv.Monitoring.Line, "",
			"monitoring.exporter_port %d is out of range 1..%d", p, maxTCPPort)
	}
	for i, s := range inv.Servers {
		p := inv.exporterBase(i)
		if outOfRange(p) {
			badBase[i] = true
		}
		if s.Monitoring.ExporterPort != 0 && outOfRange(p) {
			c.add(RuleExporterPorts, SeverityFail, fmt.Sprintf("servers[%d].monitoring.exporter_port", i), s.Monitoring.Line, s.Name,
				"server %s: monitoring.exporter_port %d is out of range 1..%d", s.Name, p, maxTCPPort)
		}
	}

	type use struct {
		what string // "node s1:7000", "the exporter of node s1:7000", ...
		line int
	}
	taken := map[string]use{}
	nodes := inv.Nodes()
	for _, r := range nodes {
		if r.Port < 1 || r.Port > MaxPort {
			continue // reported by ports()
		}
		taken[r.Addr()] = use{"node " + r.Name(), r.Line}
		taken[r.BusAddr()] = use{"the cluster bus of node " + r.Name(), r.Line}
	}
	for i, p := range inv.ExporterPorts() {
		r := nodes[i]
		own := inv.Servers[r.ServerIndex].Nodes[r.NodeIndex].ExporterPort != 0
		field := r.Field() + ".exporter_port"
		switch {
		case !own && badBase[r.ServerIndex]:
			continue // reported once, on the first port
		case outOfRange(p):
			how := "exporter_port"
			if !own {
				how = fmt.Sprintf("derived from the first exporter port %d", inv.exporterBase(r.ServerIndex))
			}
			c.add(RuleExporterPorts, SeverityFail, field, r.Line, r.Addr(),
				"node %s: exporter port %d (%s) is out of range 1..%d", r.Name(), p, how, maxTCPPort)
			continue
		}
		addr := net.JoinHostPort(r.Address, strconv.Itoa(p))
		if u, clash := taken[addr]; clash {
			c.add(RuleExporterPorts, SeverityFail, field, r.Line, r.Addr(),
				"node %s: exporter address %s is already taken by %s (line %d); set exporter_port on the node or monitoring.exporter_port on its server",
				r.Name(), addr, u.what, u.line)
			continue
		}
		taken[addr] = use{"the exporter of node " + r.Name(), r.Line}
	}
}
