package gate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// fakeReadings is a healthy one-master cluster whose p99 is p99MS.
func fakeReadings(p99MS float64) Readings {
	const a = "10.0.0.1:7000"
	return Readings{
		Masters:      []string{a},
		Latency:      map[string]Latency{a: {AvgMS: 1, P99MS: p99MS, Samples: 100}},
		ClusterState: map[string]string{a: "ok"},
	}
}

// An abort is acted on only when it persists for the recheck; a spike
// that is gone by then never aborts, and each new spike needs its own look.
func TestSecondLook(t *testing.T) {
	g := inventory.Gates{LatencyP99MS: inventory.Threshold{Hold: 20, Abort: 200}}
	const recheck = time.Second
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at      time.Duration
		p99     float64
		want    Verdict
		awaits  bool // the reason says the abort awaits its look
		started bool
	}{
		{0, 5, Proceed, false, false},
		{100 * time.Millisecond, 500, Hold, true, true}, // first abort: look
		{600 * time.Millisecond, 500, Hold, true, false},
		{1200 * time.Millisecond, 5, Proceed, false, false}, // gone: no abort
		{1300 * time.Millisecond, 30, Hold, false, false},
		{1400 * time.Millisecond, 300, Hold, true, true}, // a new spike, a new look
		{2300 * time.Millisecond, 300, Hold, true, false},
		{2400 * time.Millisecond, 300, Abort, false, false}, // persisted: abort
		{2500 * time.Millisecond, 300, Hold, true, true},    // after an abort, a fresh look
	}
	var s secondLook
	for i, st := range steps {
		d, started, _ := s.judge(Decide(fakeReadings(st.p99), g), t0.Add(st.at), recheck)
		if d.Verdict != st.want || started != st.started || strings.Contains(d.Reason(), "second look") != st.awaits {
			t.Errorf("step %d (+%v, p99 %v): %v, started %v; want %v, started %v, awaits %v", i, st.at, st.p99, d, started, st.want, st.started, st.awaits)
		}
	}
}

// Before the first batch an abort holds; the reasons keep the abort.
func TestHoldBeforeStart(t *testing.T) {
	d := Decide(fakeReadings(500), inventory.Gates{LatencyP99MS: inventory.Threshold{Hold: 20, Abort: 200}})
	h := holdBeforeStart(d)
	if h.Verdict != Hold || !strings.Contains(h.Reason(), "before the first batch") || !strings.Contains(h.Reason(), "> abort 200ms") {
		t.Errorf("holdBeforeStart = %v", h)
	}
	if d.Verdict != Abort || strings.Contains(d.Reason(), "before") {
		t.Errorf("the original decision changed: %v", d)
	}
}

// A variation abort confirmed by a look taken with the run idle holds,
// and names why; with an absolute abort beside it, or a look taken while
// the run kept sending, it aborts.
func TestIdleVariation(t *testing.T) {
	const a = "10.0.0.1:7000"
	g := inventory.Gates{
		LatencyP99MS:            inventory.Threshold{Hold: 20, Abort: 200},
		LatencyVariationPercent: inventory.Threshold{Hold: 10, Abort: 100},
	}
	readings := func(p99 float64) Readings {
		r := fakeReadings(p99)
		r.Baseline = map[string]Latency{a: {AvgMS: 1, P99MS: 2, Samples: 300}}
		return r
	}
	d := Decide(readings(6), g) // 200% over a 2ms p99, within the absolute limits
	if d.Verdict != Abort {
		t.Fatalf("Decide = %v, want an abort on variation", d)
	}
	h := idleVariation(d)
	if h.Verdict != Hold || !strings.Contains(h.Reason(), "with nothing sent for its second look, latency_variation_p99 200% on "+a+" > abort 100%") ||
		!strings.Contains(h.Reason(), "not this run's doing") {
		t.Errorf("idleVariation = %v", h)
	}
	for _, rd := range h.Readings {
		if rd.Decision == Abort.String() {
			t.Errorf("reading still aborts: %+v", rd)
		}
	}
	if d.Verdict != Abort || d.Readings[0].Decision == Hold.String() && d.Readings[0].Gate == GateVariationP99 {
		t.Errorf("the original decision changed: %v", d)
	}
	if d := idleVariation(Decide(readings(300), g)); d.Verdict != Abort { // 300ms is over the absolute abort too
		t.Errorf("with an absolute abort: %v, want abort", d)
	}

	// Through the monitor: the look ends in a hold with IdleLooks, an
	// abort without.
	for _, idle := range []bool{true, false} {
		m := NewMonitor(nil, []string{a}, nil, MonitorOptions{LatencyInterval: time.Millisecond})
		m.baseline = map[string]Latency{a: {AvgMS: 1, P99MS: 2, Samples: 1}}
		gl := g
		gl.AbortRecheck.Duration = 20 * time.Millisecond
		m.lat[a].hist.record(6000) // one 6ms PING: 200% over
		if d := m.decide(gl, idle); d.Verdict != Hold || !strings.Contains(d.Reason(), "second look") {
			t.Fatalf("first decision: %v, want a hold awaiting the look", d)
		}
		m.lat[a].look.record(6000)
		// The look lasts minLookSamples PINGs at 1ms, past the recheck.
		time.Sleep(minLookSamples*time.Millisecond + 50*time.Millisecond)
		d := m.decide(gl, idle)
		if want := map[bool]Verdict{true: Hold, false: Abort}[idle]; d.Verdict != want {
			t.Errorf("IdleLooks %v: after the look %v, want %v", idle, d, want)
		}
	}
}

// An idle look ends as soon as every master has answered minClearSamples
// PINGs since it began and none of them aborts; while one is still slow,
// or without idle looks, it runs its full length.
func TestIdleLookClearsEarly(t *testing.T) {
	const a, b = "10.0.0.1:7000", "10.0.0.1:7001"
	g := inventory.Gates{LatencyP99MS: inventory.Threshold{Hold: 20, Abort: 200}}
	for _, tc := range []struct {
		name        string
		idle        bool
		bUS         int64 // what b answers during the look
		wantCleared bool
	}{
		{"recovered", true, 1000, true},
		{"one node still slow", true, 300_000, false},
		{"not idle", false, 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMonitor(nil, []string{a, b}, nil, MonitorOptions{})
			m.lat[a].hist.record(300_000) // 300ms: over the abort
			if d := m.decide(g, tc.idle); d.Verdict != Hold || !m.LookPending() {
				t.Fatalf("first decision %v, look pending %v; want a hold awaiting the look", d, m.LookPending())
			}
			for range minClearSamples - 1 {
				m.lat[a].look.record(1000)
				m.lat[b].look.record(tc.bUS)
			}
			if d := m.decide(g, tc.idle); !m.LookPending() {
				t.Fatalf("the look ended on %d samples: %v", minClearSamples-1, d)
			}
			m.lat[a].look.record(1000)
			m.lat[b].look.record(tc.bUS)
			d := m.decide(g, tc.idle)
			if cleared := !m.LookPending(); cleared != tc.wantCleared || (cleared && d.Verdict == Abort) {
				t.Errorf("after %d samples: look ended %v (%v), want %v", minClearSamples, cleared, d, tc.wantCleared)
			}
			// Once cleared, the spike that began the look is gone from
			// the window: the next decision starts no new look.
			if tc.wantCleared {
				if d := m.decide(g, tc.idle); m.LookPending() || d.Verdict == Abort {
					t.Errorf("after the look cleared: %v, look pending %v", d, m.LookPending())
				}
			}
		})
	}
}

// On a real cluster: a brief CLIENT PAUSE over the abort limit holds and
// then proceeds; one that lasts aborts after the second look; before the
// first batch the same stall holds until the hold timeout.
func TestSecondLookOnRealCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	c := sandboxtest.Start(t, 3, sandboxtest.Options{})
	c.Form(t, 3)
	masters := c.Addrs()
	pool := admin.NewPool(admin.Options{Password: c.Password})
	t.Cleanup(func() { _ = pool.Close() })
	g := inventory.Gates{
		LatencyP99MS:  inventory.Threshold{Hold: 150, Abort: 250},
		MemoryPercent: inventory.Threshold{Hold: 80, Abort: 95},
		AbortRecheck:  inventory.Duration{Duration: time.Second},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	monitor := func(t *testing.T) *Monitor {
		m := NewMonitor(pool, masters, nil, MonitorOptions{Interval: 20 * time.Millisecond, Window: 2 * time.Second, InfoInterval: 200 * time.Millisecond})
		m.Start(ctx)
		t.Cleanup(m.Close)
		if d, err := m.Wait(ctx, g, 10*time.Second); err != nil || d.Verdict != Proceed {
			t.Fatalf("idle cluster: %v, %v", d, err)
		}
		return m
	}
	// pause stalls master i and returns once m's readings show the stalled
	// PING over the abort limit (polled, not slept: on a loaded machine the
	// probe may be late to send it).
	pause := func(t *testing.T, m *Monitor, i int, ms int) {
		if err := c.Client(i).Do(ctx, "CLIENT", "PAUSE", ms).Err(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Duration(ms)*time.Millisecond + 1500*time.Millisecond)
		for {
			d := Decide(m.Readings(), g)
			if d.Verdict == Abort && strings.Contains(d.Reason(), masters[i]) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("a %dms pause of %s never showed over the abort limit: %v", ms, masters[i], d)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	t.Run("a brief pause does not abort", func(t *testing.T) {
		m := monitor(t)
		pause(t, m, 0, 500)
		start := time.Now()
		d, err := m.Wait(ctx, g, 10*time.Second)
		el := time.Since(start)
		t.Logf("brief pause: %v after %v", d, el.Round(time.Millisecond))
		if err != nil || d.Verdict != Proceed {
			t.Fatalf("Wait = %v, %v; want proceed after the second look", d, err)
		}
		// It held on the stall (the abort awaited its look) until the
		// samples since showed the node calm again.
		if n, _ := m.Held(); n != 1 || el < 100*time.Millisecond {
			t.Errorf("proceeded after %v with %d hold(s); want one hold over the stall", el, n)
		}
	})

	t.Run("a lasting pause aborts after the second look", func(t *testing.T) {
		m := monitor(t)
		pause(t, m, 1, 4000)
		start := time.Now()
		d, err := m.Wait(ctx, g, 10*time.Second)
		el := time.Since(start)
		t.Logf("lasting pause: %v after %v", d, el.Round(time.Millisecond))
		if err != nil || d.Verdict != Abort || !strings.Contains(d.Reason(), masters[1]) {
			t.Fatalf("Wait = %v, %v; want an abort on %s", d, err, masters[1])
		}
		if el < 900*time.Millisecond || el > 3*time.Second {
			t.Errorf("aborted after %v, want about the 1s second look", el)
		}
	})

	t.Run("before the first batch an abort holds", func(t *testing.T) {
		m := monitor(t)
		p := Policy{Monitor: m, Gates: g, HoldTimeout: 1500 * time.Millisecond}
		pause(t, m, 2, 7000)
		d, err := p.Wait(ctx)
		if !errors.Is(err, ErrHoldTimeout) || d.Verdict != Hold || !strings.Contains(d.Reason(), "before the first batch") {
			t.Fatalf("first Policy.Wait = %v, %v; want a hold timeout", d, err)
		}
		// Later waits come with a batch in flight: the stall aborts.
		d, err = p.Wait(ctx)
		if err != nil || d.Verdict != Abort {
			t.Fatalf("second Policy.Wait = %v, %v; want abort", d, err)
		}
	})
}
