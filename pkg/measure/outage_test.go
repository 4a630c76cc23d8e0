package measure

import (
	"testing"
	"time"
)

func TestWriteOutage(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ack := func(start, end int) Write { return Write{Start: at(start), End: at(end), Acked: true} }
	fail := func(start, end int) Write { return Write{Start: at(start), End: at(end)} }
	// steady: an acknowledgement every 10 ms from 0 to 1000.
	steady := func(skipFrom, skipTo int) []Write {
		var ws []Write
		for ms := 0; ms <= 1000; ms += 10 {
			if ms > skipFrom && ms < skipTo {
				continue
			}
			ws = append(ws, ack(ms-2, ms))
		}
		return ws
	}
	for _, tc := range []struct {
		name     string
		writes   []Write
		from, to int
		longest  int // ms
		gapFrom  int
		failed   int
	}{
		{"steady", steady(-1, -1), 300, 700, 10, 290, 0},
		{"stalled writes", steady(400, 550), 300, 700, 150, 400, 0},
		{"a gap before the window does not count", steady(100, 250), 300, 700, 10, 290, 0},
		{"a gap straddling the window's start counts", steady(250, 380), 300, 700, 130, 250, 0},
		{"failures then recovery", append(steady(400, 600), fail(405, 450), fail(452, 500), fail(501, 590)), 300, 700, 200, 400, 3},
		{"failures until the end", append(steady(400, 2000), fail(405, 450), fail(452, 900)), 300, 1000, 500, 400, 2},
		{"out of order", []Write{ack(95, 100), ack(0, 10), fail(20, 60), ack(50, 60)}, 0, 200, 50, 10, 1},
		{"nothing acknowledged", []Write{fail(100, 300), fail(300, 800)}, 0, 1000, 700, 100, 2},
		{"nothing at all", nil, 0, 1000, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := WriteOutage(tc.writes, at(tc.from), at(tc.to))
			if o.Longest != time.Duration(tc.longest)*time.Millisecond || o.Failed != tc.failed {
				t.Errorf("longest %s, %d failed; want %dms, %d failed", o.Longest, o.Failed, tc.longest, tc.failed)
			}
			if tc.longest > 0 && (!o.From.Equal(at(tc.gapFrom)) || o.To.Sub(o.From) != o.Longest) {
				t.Errorf("gap %s..%s, want from %dms", o.From.Sub(t0), o.To.Sub(t0), tc.gapFrom)
			}
		})
	}
}
