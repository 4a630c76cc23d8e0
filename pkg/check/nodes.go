package check

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

// Label names a node for messages: "addr (server:port)" when the inventory
// knows it.
func Label(inv *inventory.Inventory, addr string) string {
	if inv != nil {
		if r, ok := inv.NodeByAddr(addr); ok {
			return addr + " (" + r.Name() + ")"
		}
	}
	return addr
}

// ServerOf is the failure domain of addr: the inventory server name, or
// the host part of the address when the inventory does not know the node.
func ServerOf(inv *inventory.Inventory, addr string) string {
	if inv != nil {
		if s, ok := inv.ServerOf(addr); ok {
			return s
		}
	}
	host, _, found := strings.Cut(addr, ":")
	if !found {
		return addr
	}
	return "host " + host
}

// LineOf returns the inventory file and line of the node at addr.
func LineOf(inv *inventory.Inventory, addr string) (string, int) {
	if inv != nil {
		if r, ok := inv.NodeByAddr(addr); ok {
			return inv.Source, r.Line
		}
	}
	return "", 0
}

// Failed returns the checks that fail a stage: status fail or error.
func Failed(checks []report.Check) []report.Check {
	var out []report.Check
	for _, c := range checks {
		if c.Status == report.Fail || c.Status == report.Error {
			out = append(out, c)
		}
	}
	return out
}

// New returns a check with a formatted message.
func New(id string, st report.Status, node, format string, a ...any) report.Check {
	return report.Check{ID: id, Status: st, Node: node, Message: fmt.Sprintf(format, a...)}
}

// checkAddrs is every address a per-node check covers: the inventory's
// nodes, then the cluster's members and any other observed node.
func checkAddrs(inv *inventory.Inventory, l Live) []string {
	seen := map[string]bool{}
	var out []string
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if inv != nil {
		for _, r := range inv.Nodes() {
			add(r.Addr())
		}
	}
	var rest []string
	for a := range l.Members {
		rest = append(rest, a)
	}
	if l.Snap != nil {
		rest = append(rest, l.Snap.Addrs()...)
	}
	sort.Strings(rest)
	for _, a := range rest {
		add(a)
	}
	return out
}

// sortByInventory orders addresses as the inventory lists its nodes, then
// unknown ones by address.
func sortByInventory(inv *inventory.Inventory, addrs []string) {
	rank := map[string]int{}
	if inv != nil {
		for i, r := range inv.Nodes() {
			rank[r.Addr()] = i + 1
		}
	}
	sort.SliceStable(addrs, func(i, j int) bool {
		ri, rj := rank[addrs[i]], rank[addrs[j]]
		switch {
		case ri == 0 && rj == 0:
			return addrs[i] < addrs[j]
		case ri == 0:
			return false
		case rj == 0:
			return true
		}
		return ri < rj
	})
}

func sortedInts(m map[int]string) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// bytesText formats a byte count for people (binary units).
func bytesText(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}
