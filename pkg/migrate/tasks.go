package migrate

import (
	"context"
	"slices"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/plan"
)

// Task is the unit a server-side (atomic) mover works in: every slot one
// source gives one target in a batch, as sorted, merged, contiguous ranges.
type Task struct {
	From, To         string // node ids
	FromAddr, ToAddr string
	Ranges           []cluster.Range
}

// Slots is how many slots t moves.
func (t Task) Slots() int {
	n := 0
	for _, r := range t.Ranges {
		n += r.Len()
	}
	return n
}

// move is t as a plan.Move (its first range), for the pacer and logs.
func (t Task) move() plan.Move {
	m := plan.Move{From: t.From, To: t.To, FromAddr: t.FromAddr, ToAddr: t.ToAddr}
	if len(t.Ranges) > 0 {
		m.Range = t.Ranges[0]
	}
	return m
}

// TaskControl steers a TaskMover between and during tasks.
type TaskControl struct {
	// Next is called before each task starts; it may block (a pause, a
	// hold). An error starts no further task; the running ones finish.
	Next func(t Task) error
	// Stop is polled while tasks run; an error cancels the running tasks
	// (the server gives their slots back to the source whole) and is
	// returned. Nil never stops.
	Stop func() error
	// Progress receives each finished task's stats.
	Progress func(delta Stats)
}

// TaskMover moves whole slot ranges as server-side tasks. The executor
// hands it a batch's moves grouped by Tasks instead of calling Move per
// range; the mover decides how many tasks run at once.
type TaskMover interface {
	Mover
	MoveTasks(ctx context.Context, tasks []Task, ctl TaskControl) (Stats, error)
	// Protocol names the migration protocol, for the report.
	Protocol() Protocol
}

// Tasks groups moves by (source, target) pair, in the order each pair
// first appears, leaving out the slots skip says to skip (e.g. those the
// target already owns). Each task's ranges are sorted and merged where
// they touch. It also returns how many slots were skipped.
func Tasks(moves []plan.Move, skip func(slot int, m plan.Move) bool) ([]Task, int) {
	type pair struct{ from, to string }
	idx := map[pair]int{}
	var tasks []Task
	skipped := 0
	for _, m := range moves {
		k := pair{m.From, m.To}
		i, ok := idx[k]
		if !ok {
			i = len(tasks)
			idx[k] = i
			tasks = append(tasks, Task{From: m.From, To: m.To, FromAddr: m.FromAddr, ToAddr: m.ToAddr})
		}
		for s := m.Range.Start; s <= m.Range.End; s++ {
			if skip != nil && skip(s, m) {
				skipped++
				continue
			}
			tasks[i].Ranges = appendSlot(tasks[i].Ranges, s)
		}
	}
	out := tasks[:0]
	for _, t := range tasks {
		if len(t.Ranges) == 0 {
			continue
		}
		t.Ranges = mergeRanges(t.Ranges)
		out = append(out, t)
	}
	return out, skipped
}

func appendSlot(rs []cluster.Range, s int) []cluster.Range {
	if n := len(rs); n > 0 && rs[n-1].End+1 == s {
		rs[n-1].End = s
		return rs
	}
	return append(rs, cluster.Range{Start: s, End: s})
}

// mergeRanges sorts rs and merges ranges that touch or overlap.
func mergeRanges(rs []cluster.Range) []cluster.Range {
	slices.SortFunc(rs, func(a, b cluster.Range) int { return a.Start - b.Start })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r.Start <= last.End+1 {
			last.End = max(last.End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}
