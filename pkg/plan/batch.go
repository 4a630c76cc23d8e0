package plan

import (
	"cmp"
	"slices"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// stream is what one source still has to give one receiver, in slot order.
type stream struct {
	proto  Move // From/To fields; Range unused
	ranges []cluster.Range
	left   int
}

func (st *stream) take(k int, out *[]Move) int {
	got := 0
	for got < k && len(st.ranges) > 0 {
		r := &st.ranges[0]
		n := min(k-got, r.Len())
		m := st.proto
		m.Range = cluster.Range{Start: r.Start, End: r.Start + n - 1}
		*out = append(*out, m)
		got += n
		if n == r.Len() {
			st.ranges = st.ranges[1:]
		} else {
			r.Start += n
		}
	}
	st.left -= got
	return got
}

// receiver is every stream toward one target node.
type receiver struct {
	id      string
	streams []*stream // those with slots left
	left    int
	cursor  int // rotates which source gets the rounding extra
}

func (rc *receiver) take(k int, out *[]Move) int {
	got := 0
	for got < k && len(rc.streams) > 0 {
		q := share(k-got, len(rc.streams), &rc.cursor)
		for i, st := range rc.streams {
			got += st.take(q[i], out)
		}
		rc.streams = compact(rc.streams, func(s *stream) int { return s.left })
	}
	rc.left -= got
	return got
}

// compact drops, in place and keeping order, the elements with nothing left.
func compact[T any](xs []T, left func(T) int) []T {
	out := xs[:0]
	for _, x := range xs {
		if left(x) > 0 {
			out = append(out, x)
		}
	}
	return out
}

// share splits total into k near-equal parts; the parts that get one more
// start at *cursor, which then advances so the extras rotate.
func share(total, k int, cursor *int) []int {
	q := make([]int, k)
	base, extra := total/k, total%k
	for i := range q {
		q[i] = base
	}
	for j := range extra {
		q[(*cursor+j)%k]++
	}
	*cursor += extra
	return q
}

// makeBatches cuts moves into batches of at most size slots. Each batch
// shares its slots evenly among the receivers that still need slots, and a
// receiver's share evenly among its sources, so every batch spreads the work
// over as many nodes as it can.
func makeBatches(moves []Move, size int) []Batch {
	byTo := map[string]*receiver{}
	streams := map[[2]string]*stream{}
	var rcs []*receiver
	for _, m := range moves {
		rc := byTo[m.To]
		if rc == nil {
			rc = &receiver{id: m.To}
			byTo[m.To] = rc
			rcs = append(rcs, rc)
		}
		key := [2]string{m.From, m.To}
		st := streams[key]
		if st == nil {
			st = &stream{proto: m}
			streams[key] = st
			rc.streams = append(rc.streams, st)
		}
		st.ranges = append(st.ranges, m.Range)
		st.left += m.Range.Len()
		rc.left += m.Range.Len()
	}
	slices.SortFunc(rcs, func(a, b *receiver) int { return cmp.Compare(a.id, b.id) })
	for _, rc := range rcs {
		slices.SortFunc(rc.streams, func(a, b *stream) int { return cmp.Compare(a.proto.From, b.proto.From) })
		for _, st := range rc.streams {
			slices.SortFunc(st.ranges, func(a, b cluster.Range) int { return cmp.Compare(a.Start, b.Start) })
		}
	}
	batches := []Batch{}
	cursor := 0
	for {
		budget := size
		var ms []Move
		for budget > 0 && len(rcs) > 0 {
			q := share(budget, len(rcs), &cursor)
			for i, rc := range rcs {
				budget -= rc.take(q[i], &ms)
			}
			rcs = compact(rcs, func(rc *receiver) int { return rc.left })
		}
		if len(ms) == 0 {
			return batches
		}
		batches = append(batches, Batch{Number: len(batches) + 1, Moves: mergeMoves(ms)})
	}
}

// mergeMoves orders a batch's moves by target, source and slot, and joins
// contiguous ranges of the same pair.
func mergeMoves(ms []Move) []Move {
	slices.SortFunc(ms, func(a, b Move) int {
		return cmp.Or(cmp.Compare(a.To, b.To), cmp.Compare(a.From, b.From), cmp.Compare(a.Range.Start, b.Range.Start))
	})
	out := ms[:0]
	for _, m := range ms {
		if k := len(out) - 1; k >= 0 && out[k].From == m.From && out[k].To == m.To && out[k].Range.End+1 == m.Range.Start {
			out[k].Range.End = m.Range.End
			continue
		}
		out = append(out, m)
	}
	return out
}
