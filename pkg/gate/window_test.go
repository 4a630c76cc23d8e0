package gate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/inventory"
)

func mustWindow(t *testing.T, start, end, tz string) Window {
	t.Helper()
	w, err := NewWindow(inventory.Window{Start: start, End: end, Timezone: tz})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestWindowTable(t *testing.T) {
	tests := []struct {
		name           string
		start, end, tz string
		now            string
		in             bool
		next           string // RFC 3339 in the window's zone
		remaining      time.Duration
	}{
		{"before, same day", "02:00", "04:00", "UTC", "2026-12-03T01:30:00Z", false, "2026-12-03T02:00:00Z", 0},
		{"at start", "02:00", "04:00", "UTC", "2026-12-03T02:00:00Z", true, "2026-12-03T02:00:00Z", 2 * time.Hour},
		{"inside", "02:00", "04:00", "UTC", "2026-12-03T03:15:30Z", true, "2026-12-03T03:15:30Z", 44*time.Minute + 30*time.Second},
		{"at end is closed", "02:00", "04:00", "UTC", "2026-12-03T04:00:00Z", false, "2026-12-04T02:00:00Z", 0},
		{"after, next day", "02:00", "04:00", "UTC", "2026-12-03T10:21:00Z", false, "2026-12-04T02:00:00Z", 0},
		{"midnight: before", "23:00", "01:00", "UTC", "2026-12-03T22:59:00Z", false, "2026-12-03T23:00:00Z", 0},
		{"midnight: late evening", "23:00", "01:00", "UTC", "2026-12-03T23:30:00Z", true, "2026-12-03T23:30:00Z", 90 * time.Minute},
		{"midnight: after midnight", "23:00", "01:00", "UTC", "2026-12-04T00:30:00Z", true, "2026-12-04T00:30:00Z", 30 * time.Minute},
		{"midnight: closed at end", "23:00", "01:00", "UTC", "2026-12-04T01:00:00Z", false, "2026-12-04T23:00:00Z", 0},
		{"fixed offset zone", "02:00", "04:00", "Asia/Kolkata", "2026-12-03T20:00:00Z", false, "2026-12-04T02:00:00+05:30", 0},
		{"fixed offset zone, inside", "02:00", "04:00", "Asia/Kolkata", "2026-12-03T21:00:00Z", true, "2026-12-04T02:30:00+05:30", 90 * time.Minute},
		{"DST zone in winter", "02:00", "04:00", "Europe/Berlin", "2026-12-03T00:00:00Z", false, "2026-12-03T02:00:00+01:00", 0},
		{"DST zone in summer", "02:00", "04:00", "Europe/Berlin", "2026-06-30T23:00:00Z", false, "2026-07-01T02:00:00+02:00", 0},
		// 29 March 2026: Berlin's clocks jump from 02:00 CET to 03:00 CEST,
		// so the window opens at 03:00 and lasts one hour.
		{"spring forward: opens after the gap", "02:00", "04:00", "Europe/Berlin", "2026-03-29T00:30:00Z", false, "2026-03-29T03:00:00+02:00", 0},
		{"spring forward: one hour left", "02:00", "04:00", "Europe/Berlin", "2026-03-29T01:00:00Z", true, "2026-03-29T03:00:00+02:00", time.Hour},
		// A window inside the skipped hour does not exist that day.
		{"spring forward: skipped window", "02:00", "02:30", "Europe/Berlin", "2026-03-29T00:30:00Z", false, "2026-03-30T02:00:00+02:00", 0},
		// 25 October 2026: 03:00 CEST becomes 02:00 CET; 02:00 is read
		// twice, and the window opens at the first.
		{"fall back: opens at the first 02:00", "02:00", "04:00", "Europe/Berlin", "2026-10-24T23:00:00Z", false, "2026-10-25T02:00:00+02:00", 0},
		{"fall back: three hours long", "02:00", "04:00", "Europe/Berlin", "2026-10-25T00:00:00Z", true, "2026-10-25T02:00:00+02:00", 3 * time.Hour},
		{"US zone across midnight", "23:00", "01:00", "America/New_York", "2026-12-04T03:30:00Z", false, "2026-12-03T23:00:00-05:00", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := mustWindow(t, tc.start, tc.end, tc.tz)
			now := at(t, tc.now)
			if got := w.InWindow(now); got != tc.in {
				t.Errorf("InWindow(%s) = %v, want %v", tc.now, got, tc.in)
			}
			if got := w.NextOpen(now).Format(time.RFC3339); got != tc.next {
				t.Errorf("NextOpen(%s) = %s, want %s", tc.now, got, tc.next)
			}
			if got := w.Remaining(now); got != tc.remaining {
				t.Errorf("Remaining(%s) = %s, want %s", tc.now, got, tc.remaining)
			}
		})
	}
}

func TestNewWindowRejects(t *testing.T) {
	for _, w := range []inventory.Window{
		{Start: "2:00", End: "04:00"},
		{Start: "02:00", End: "24:00"},
		{Start: "02:00", End: "02:00"},
		{Start: "02:00", End: "04:00", Timezone: "Mars/Olympus"},
	} {
		if _, err := NewWindow(w); err == nil {
			t.Errorf("NewWindow(%+v) = nil error", w)
		}
	}
}

// fakeGates proceeds at once and counts its waits.
type fakeGates struct{ waits int }

func (f *fakeGates) Wait(context.Context) (Decision, error) { f.waits++; return Decision{}, nil }
func (f *fakeGates) Current() Decision                      { return Decision{} }

func TestWindowPolicyHoldsOutsideWindow(t *testing.T) {
	inner := &fakeGates{}
	now := at(t, "2026-12-03T10:00:00Z")
	p := &WindowPolicy{Inner: inner, Window: mustWindow(t, "02:00", "04:00", "UTC"), HoldTimeout: 10 * time.Minute,
		Clock: func() time.Time { return now }}
	start := time.Now()
	d, err := p.Wait(context.Background())
	if !errors.Is(err, ErrWindowClosed) || d.Verdict != Hold {
		t.Fatalf("Wait = %v, %v; want a hold with ErrWindowClosed", d, err)
	}
	if !strings.Contains(d.Reason(), "opens at 2026-12-04T02:00:00Z") {
		t.Errorf("reason %q does not name the opening time", d.Reason())
	}
	if inner.waits != 0 {
		t.Errorf("the gates were waited on %d time(s) outside the window", inner.waits)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Wait took %s; a window that opens after the hold timeout must hold at once", el)
	}
}

func TestWindowPolicyWaitsForAnOpeningWithinHoldTimeout(t *testing.T) {
	inner := &fakeGates{}
	// The clock reads 01:59:59.7 when Wait begins and advances in real time.
	base, real0 := at(t, "2026-12-03T01:59:59Z").Add(700*time.Millisecond), time.Now()
	p := &WindowPolicy{Inner: inner, Window: mustWindow(t, "02:00", "04:00", "UTC"), HoldTimeout: time.Minute,
		Clock: func() time.Time { return base.Add(time.Since(real0)) }}
	d, err := p.Wait(context.Background())
	if err != nil || d.Verdict != Proceed || inner.waits != 1 {
		t.Fatalf("Wait = %v, %v after %d gate wait(s); want proceed once the window opens", d, err, inner.waits)
	}
	if !p.Window.InWindow(p.Clock()) {
		t.Errorf("let in at %s, outside the window", p.Clock())
	}
}

func TestWindowPolicyKeepsBatchesInsideTheWindow(t *testing.T) {
	inner := &fakeGates{}
	now := at(t, "2026-12-03T02:00:00Z")
	p := &WindowPolicy{Inner: inner, Window: mustWindow(t, "02:00", "04:00", "UTC"), HoldTimeout: 10 * time.Minute,
		FirstBatch: time.Minute, Clock: func() time.Time { return now }}
	ctx := context.Background()
	if est := p.Estimate(); est != time.Minute {
		t.Fatalf("first estimate %s, want FirstBatch", est)
	}
	// Batches are let in 20 minutes apart: the estimate becomes 40m.
	for i := range 3 {
		if d, err := p.Wait(ctx); err != nil || d.Verdict != Proceed {
			t.Fatalf("batch %d at %s: %v, %v", i+1, now, d, err)
		}
		now = now.Add(20 * time.Minute)
	}
	if est := p.Estimate(); est != 40*time.Minute {
		t.Fatalf("estimate %s after 20-minute batches, want 40m", est)
	}
	// 03:00: 60 minutes left, a 40-minute batch fits.
	if d, err := p.Wait(ctx); err != nil || d.Verdict != Proceed {
		t.Fatalf("at 03:00: %v, %v", d, err)
	}
	// 03:30: 30 minutes left, a 40-minute batch does not.
	now = now.Add(30 * time.Minute)
	d, err := p.Wait(ctx)
	if !errors.Is(err, ErrWindowClosed) || d.Verdict != Hold {
		t.Fatalf("at 03:30: %v, %v; want a hold", d, err)
	}
	for _, want := range []string{"closes in 30m0s", "opens again at 2026-12-04T02:00:00Z"} {
		if !strings.Contains(d.Reason(), want) {
			t.Errorf("reason %q lacks %q", d.Reason(), want)
		}
	}
}

func TestWindowPolicyPassesGateHolds(t *testing.T) {
	hold := holdingGates{}
	p := &WindowPolicy{Inner: hold, Window: mustWindow(t, "00:00", "23:59", "UTC"), HoldTimeout: time.Minute,
		Clock: func() time.Time { return at(t, "2026-12-03T12:00:00Z") }}
	d, err := p.Wait(context.Background())
	if !errors.Is(err, ErrHoldTimeout) || d.Reason() != "latency" {
		t.Fatalf("Wait = %v, %v; want the gates' own hold", d, err)
	}
}

type holdingGates struct{}

func (holdingGates) Wait(context.Context) (Decision, error) {
	return Decision{Verdict: Hold, Reasons: []string{"latency"}}, ErrHoldTimeout
}
func (holdingGates) Current() Decision { return Decision{Verdict: Hold} }
