package backup

import (
	"fmt"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// Finding ids, stable like every check id.
const (
	IDAge      = "backup.age"      // a good file is older than max_age
	IDCoverage = "backup.coverage" // some slots have no good file
	IDEntry    = "backup.entry"    // an entry is bad or incomplete
)

// Finding is one reason a manifest cannot be relied on.
type Finding struct {
	ID      string
	Node    string // the entry's node; "" for coverage
	File    string
	Message string
	// Age is the entry's age (IDAge only).
	Age time.Duration
	// Missing are the uncovered slot ranges (IDCoverage only).
	Missing []cluster.Range
}

// AllSlots is the set of every hash slot, the usual allSlots argument.
func AllSlots() cluster.SlotSet {
	return cluster.NewSlotSet(cluster.Range{Start: 0, End: cluster.NumSlots - 1})
}

// CheckManifest says why m cannot be restored from as of now: entries that
// are bad or incomplete, good entries whose save is older than maxAge (0 =
// no age limit), and slots of allSlots that no usable entry covers. An
// empty result means every slot of allSlots has a good, recent file.
// Only entries that are good and complete count towards coverage; a stale
// one still counts, as it is reported on its own.
func CheckManifest(m *Manifest, now time.Time, maxAge time.Duration, allSlots cluster.SlotSet) []Finding {
	var out []Finding
	var covered cluster.SlotSet
	if m == nil {
		m = &Manifest{}
	}
	for _, e := range m.Entries {
		if why := entryProblem(e); why != "" {
			out = append(out, Finding{ID: IDEntry, Node: e.Node, File: e.File,
				Message: fmt.Sprintf("%s (%s): %s", e.Node, fileOr(e.File), why)})
			continue
		}
		if age := now.Sub(e.LastSave); maxAge > 0 && age > maxAge {
			out = append(out, Finding{ID: IDAge, Node: e.Node, File: e.File, Age: age,
				Message: fmt.Sprintf("%s (%s): saved %s ago (%s), older than backup.max_age %s",
					e.Node, e.File, age.Round(time.Second), e.LastSave.UTC().Format(time.RFC3339), maxAge)})
		}
		for _, r := range e.Slots {
			covered.AddRange(r)
		}
	}
	var missing cluster.SlotSet
	for _, s := range allSlots.Slots() {
		if !covered.Has(s) {
			missing.Add(s)
		}
	}
	if n := missing.Len(); n > 0 {
		out = append(out, Finding{ID: IDCoverage, Missing: missing.Ranges(),
			Message: fmt.Sprintf("%d of %d slots have no good file: %s", n, allSlots.Len(), rangesText(missing.Ranges(), 8))})
	}
	return out
}

// entryProblem says why an entry cannot be restored from, or "".
func entryProblem(e Entry) string {
	switch {
	case e.Status == Bad && e.Problem != "":
		return "marked bad: " + e.Problem
	case e.Status == Bad:
		return "marked bad"
	case e.Status != Good:
		return fmt.Sprintf("unknown status %q", e.Status)
	case e.File == "":
		return "no file"
	case len(e.SHA256) != 64:
		return "no SHA-256"
	case e.Size <= 0:
		return "empty file"
	case e.LastSave.IsZero():
		return "no save time"
	}
	return ""
}

func fileOr(f string) string {
	if f == "" {
		return "no file"
	}
	return f
}

// rangesText lists at most limit ranges, then how many more there are.
func rangesText(rs []cluster.Range, limit int) string {
	parts := make([]string, 0, min(len(rs), limit)+1)
	for i, r := range rs {
		if i == limit {
			parts = append(parts, fmt.Sprintf("and %d more ranges", len(rs)-limit))
			break
		}
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ", ")
}
