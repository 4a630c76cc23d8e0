package inventory

import (
	"fmt"
	"strconv"
	"time"

	// Embedded zone data: a scratch or distroless image has no
	// /usr/share/zoneinfo, and a window's timezone must load everywhere.
	_ "time/tzdata"
)

// Window is a daily maintenance window in local clock time: batches start
// only inside it. End before Start crosses midnight (23:00-01:00).
type Window struct {
	Start    string `json:"start"`    // "HH:MM", 24-hour clock
	End      string `json:"end"`      // "HH:MM", 24-hour clock
	Timezone string `json:"timezone"` // IANA name, e.g. Europe/Berlin; default UTC
	Line     int    `json:"-"`
}

// Clock parses an "HH:MM" time of day into minutes after midnight.
func Clock(s string) (int, error) {
	bad := fmt.Errorf("%q: want a time of day as HH:MM, e.g. \"02:00\"", s)
	if len(s) != 5 || s[2] != ':' {
		return 0, bad
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || s[0] == '+' || s[3] == '+' {
		return 0, bad
	}
	return h*60 + m, nil
}

// Location loads the window's timezone; an empty one is UTC.
func (w Window) Location() (*time.Location, error) {
	if w.Timezone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(w.Timezone)
	if err != nil {
		return nil, fmt.Errorf("%q: unknown timezone; want an IANA name such as UTC or Europe/Berlin", w.Timezone)
	}
	return loc, nil
}

// window reports what is wrong with gates.window, at its line.
func (d *decoder) window(w *Window) {
	if w == nil {
		return
	}
	start, errS := Clock(w.Start)
	end, errE := Clock(w.End)
	for _, f := range []struct {
		name, val string
		err       error
	}{{"start", w.Start, errS}, {"end", w.End, errE}} {
		switch {
		case f.val == "":
			d.add(w.Line, "gates.window."+f.name, "required (HH:MM)")
		case f.err != nil:
			d.add(w.Line, "gates.window."+f.name, "%v", f.err)
		}
	}
	if errS == nil && errE == nil && start == end {
		d.add(w.Line, "gates.window", "start and end are both %s: a window must have a length (use 00:00-23:59 for all day, or leave the window out)", w.Start)
	}
	if _, err := w.Location(); err != nil {
		d.add(w.Line, "gates.window.timezone", "%v", err)
	}
}
