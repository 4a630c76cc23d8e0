package check

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

// canaryPrefix starts every canary key, so that an operator who sees one
// knows what wrote it (they expire within a minute anyway).
const canaryPrefix = "slotshift:canary:"

// maxCanaryTries bounds the search for a key in a set of slots.
const maxCanaryTries = 1 << 22

// CanaryKey returns the first key "slotshift:canary:<n>" whose hash slot is
// in slots, so that a write of it lands on the master owning slots. ok is
// false when slots is empty.
func CanaryKey(slots *cluster.SlotSet) (string, bool) {
	if slots.Len() == 0 {
		return "", false
	}
	for i := range maxCanaryTries {
		k := canaryPrefix + strconv.Itoa(i)
		if slots.Has(cluster.KeySlot(k)) {
			return k, true
		}
	}
	// Unreachable in practice: 4M keys cover every slot many times over.
	return "", false
}

// CanaryResult is what the canary write/read did on one master.
type CanaryResult struct {
	Key string
	Err string
	// Duration is SET + GET + DEL wall time.
	Duration time.Duration
}

// CheckCanary reports canary.write_read per master.
func CheckCanary(inv *inventory.Inventory, res map[string]CanaryResult) []report.Check {
	addrs := slices.Sorted(maps.Keys(res))
	sortByInventory(inv, addrs)
	var out []report.Check
	for _, a := range addrs {
		r := res[a]
		c := New(IDCanary, report.Pass, a, "%s: wrote, read back and deleted %q (slot %d) through the cluster client in %s", Label(inv, a), r.Key, cluster.KeySlot(r.Key), r.Duration.Round(time.Microsecond))
		if r.Err != "" {
			c = New(IDCanary, report.Fail, a, "%s: canary %q (slot %d): %s", Label(inv, a), r.Key, cluster.KeySlot(r.Key), r.Err)
		}
		c.Duration = report.SecondsOf(r.Duration)
		c.File, c.Line = LineOf(inv, a)
		out = append(out, c)
	}
	return out
}
