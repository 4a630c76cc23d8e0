package check

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/measure"
	"github.com/slotshift/slotshift/pkg/report"
)

// CheckMemory reports gate.memory per reachable node: used_memory as a
// percentage of maxmemory (or of system memory when maxmemory is 0).
func CheckMemory(inv *inventory.Inventory, l Live, g inventory.Threshold) []report.Check {
	var out []report.Check
	for _, o := range l.Snap.Reachable() {
		used, _ := measure.Float(o.Info, "used_memory")
		limit, what := measure.MemoryLimit(o.Info, o.Config)
		pct, known := measure.MemoryPercent(o.Info, o.Config)
		var c report.Check
		if !known {
			c = New(IDGateMemory, report.Skip, o.Addr, "%s: neither maxmemory nor total_system_memory known", Label(inv, o.Addr))
		} else {
			pct = round1(pct)
			c = New(IDGateMemory, gateStatus(pct, g), o.Addr, "%s: memory %.1f%% of %s (%s of %s; hold %g%%, abort %g%%)", Label(inv, o.Addr), pct, what, bytesText(used), bytesText(limit), g.Hold, g.Abort)
			c.Observed, c.Threshold, c.Unit = pct, g.Hold, "percent"
		}
		c.File, c.Line = LineOf(inv, o.Addr)
		out = append(out, c)
	}
	return out
}

// Receive is one master's slot change in the planned rebalance.
type Receive struct {
	Addr            string
	Current, Target int
}

// CheckHeadroom reports memory.headroom for each node that will receive
// slots: its used memory plus the slots it receives at the givers' average
// bytes per slot stays under the memory gate's hold percentage of
// maxmemory (or system memory).
func CheckHeadroom(inv *inventory.Inventory, l Live, targets []Receive, g inventory.Threshold) []report.Check {
	if !l.Exists {
		return []report.Check{New(IDMemoryHeadroom, report.Skip, "", NotCreated)}
	}
	var giverBytes, giverSlots float64
	for _, t := range targets {
		if t.Current > t.Target {
			if o, ok := l.Snap.Nodes[t.Addr]; ok && o.OK() {
				used := datasetBytes(o)
				giverBytes += used
				giverSlots += float64(t.Current)
			}
		}
	}
	perSlot := 0.0
	if giverSlots > 0 {
		perSlot = giverBytes / giverSlots
	}
	var out []report.Check
	for _, t := range targets {
		if t.Target <= t.Current {
			continue
		}
		o, ok := l.Snap.Nodes[t.Addr]
		if !ok || !o.OK() {
			out = append(out, New(IDMemoryHeadroom, report.Skip, t.Addr, "%s: not reachable", Label(inv, t.Addr)))
			continue
		}
		used, _ := measure.Float(o.Info, "used_memory")
		limit, what := measure.MemoryLimit(o.Info, o.Config)
		recv := t.Target - t.Current
		projected := used + float64(recv)*perSlot
		if limit <= 0 {
			out = append(out, New(IDMemoryHeadroom, report.Skip, t.Addr, "%s: neither maxmemory nor total_system_memory known", Label(inv, t.Addr)))
			continue
		}
		pct := round1(100 * projected / limit)
		st := report.Pass
		if pct > g.Hold {
			st = report.Fail
		}
		c := New(IDMemoryHeadroom, st, t.Addr, "%s receives %d slots: projected %s (%.1f%% of %s %s; %s/slot on the givers), limit %g%%",
			Label(inv, t.Addr), recv, bytesText(projected), pct, what, bytesText(limit), bytesText(perSlot), g.Hold)
		if st == report.Fail {
			c.Hint = "raise maxmemory, add servers, or lower the receiving servers' weight before rebalancing"
		}
		c.Observed, c.Threshold, c.Unit = pct, g.Hold, "percent"
		c.File, c.Line = LineOf(inv, t.Addr)
		out = append(out, c)
	}
	if len(out) == 0 {
		out = append(out, New(IDMemoryHeadroom, report.Pass, "", "no node receives slots"))
	}
	return out
}

// datasetBytes is the memory a node's keys take: used_memory_dataset when
// reported, else used_memory.
func datasetBytes(o *cluster.Observation) float64 {
	if v, err := measure.Float(o.Info, "used_memory_dataset"); err == nil {
		return v
	}
	v, _ := measure.Float(o.Info, "used_memory")
	return v
}

// BigKey is one key and its MEMORY USAGE.
type BigKey struct {
	Key   string `json:"key"`
	Bytes int64  `json:"bytes"`
}

// BigKeyScan is what the big-key scan found on one node.
type BigKeyScan struct {
	// Largest are the biggest keys seen, largest first (at most 5).
	Largest []BigKey
	// Scanned is how many keys were measured.
	Scanned int64
	// Complete is false when the time budget ended the scan early.
	Complete bool
	// Err is why the scan failed; "" when it ran.
	Err string
}

// CheckBigKeys reports keys.big per scanned node: warn when the largest
// key is over warn bytes, fail over fail bytes.
func CheckBigKeys(inv *inventory.Inventory, scans map[string]BigKeyScan, warn, fail int64) []report.Check {
	addrs := slices.Sorted(maps.Keys(scans))
	sortByInventory(inv, addrs)
	var out []report.Check
	for _, a := range addrs {
		s := scans[a]
		file, line := LineOf(inv, a)
		if s.Err != "" {
			c := New(IDBigKeys, report.Error, a, "%s: big-key scan failed: %s", Label(inv, a), s.Err)
			c.File, c.Line = file, line
			out = append(out, c)
			continue
		}
		scope := fmt.Sprintf("%d keys scanned", s.Scanned)
		if !s.Complete {
			scope += " (time budget reached; partial)"
		}
		var top []string
		var largest int64
		for _, k := range s.Largest {
			top = append(top, fmt.Sprintf("%q %s", k.Key, bytesText(float64(k.Bytes))))
			largest = max(largest, k.Bytes)
		}
		st := report.Pass
		switch {
		case fail > 0 && largest > fail:
			st = report.Fail
		case warn > 0 && largest > warn:
			st = report.Warn
		}
		msg := fmt.Sprintf("%s: %s, no key over %s", Label(inv, a), scope, bytesText(float64(warn)))
		if st != report.Pass {
			msg = fmt.Sprintf("%s: %s; largest: %s (warn over %s, fail over %s)", Label(inv, a), scope, strings.Join(top, ", "), bytesText(float64(warn)), bytesText(float64(fail)))
		} else if len(top) > 0 {
			msg += "; largest: " + strings.Join(top, ", ")
		}
		c := report.Check{ID: IDBigKeys, Status: st, Node: a, Message: msg, Observed: largest, Threshold: warn, Unit: "bytes", File: file, Line: line}
		if st == report.Fail {
			c.Threshold = fail
			c.Hint = "split the key, or raise rebalance.big_key_bytes knowing that MIGRATE blocks both nodes while it moves"
		}
		out = append(out, c)
	}
	return out
}

// CheckBackup reports backup.recent per reachable replica: the last
// background save succeeded and is younger than maxAge. Persistence being

// bigKeyTop is how many of its largest keys a BigKeyScan keeps.
const bigKeyTop = 5

// Add counts one measured key and keeps it if it is among the largest.
func (s *BigKeyScan) Add(k BigKey) {
	s.Scanned++
	s.Largest = keepLargest(s.Largest, k)
}

// keepLargest inserts k into top (largest first), keeping bigKeyTop.
func keepLargest(top []BigKey, k BigKey) []BigKey {
	if len(top) == bigKeyTop && k.Bytes <= top[len(top)-1].Bytes {
		return top
	}
	i := sort.Search(len(top), func(i int) bool { return top[i].Bytes < k.Bytes })
	top = append(top, BigKey{})
	copy(top[i+1:], top[i:])
	top[i] = k
	if len(top) > bigKeyTop {
		top = top[:bigKeyTop]
	}
	return top
}
