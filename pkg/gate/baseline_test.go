package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/measure"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

func TestVariation(t *testing.T) {
	tests := []struct {
		cur, base, want float64
	}{
		{11, 10, 10},      // a WAN baseline is used as it is
		{5, 10, -50},      // faster than the baseline
		{0.3, 0.2, 10},    // a loopback baseline is floored at 1ms
		{2.2, 0.2, 200},   // a real spike still shows
		{1.0, 1.0, 0},     //
		{0.05, 0.01, 4.0}, // noise on a tiny baseline stays small
	}
	for _, tc := range tests {
		if got := Variation(tc.cur, tc.base); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Variation(%v, %v) = %v, want %v", tc.cur, tc.base, got, tc.want)
		}
	}
}

func TestDecideVariation(t *testing.T) {
	const a = "10.0.0.1:7000"
	g := inventory.Gates{LatencyVariationPercent: inventory.Threshold{Hold: 10, Abort: 100}}
	r := fakeReadings(0)
	r.Latency[a] = Latency{AvgMS: 2.5, P99MS: 6, Samples: 100}
	// No baseline yet: hold, never proceed blind.
	if d := Decide(r, g); d.Verdict != Hold || !strings.Contains(d.Reason(), "baseline") {
		t.Errorf("without a baseline: %v", d)
	}
	r.Baseline = map[string]Latency{a: {AvgMS: 2, P99MS: 5, Samples: 100}}
	d := Decide(r, g)
	// p99 +20% holds, avg +25% holds.
	if d.Verdict != Hold || !strings.Contains(d.Reason(), "latency_variation_p99 20% on "+a+" > hold 10%") {
		t.Errorf("+20%%: %v", d)
	}
	var ids []string
	for _, x := range d.Readings {
		ids = append(ids, x.Gate)
	}
	if got := strings.Join(ids, ","); got != GateVariationP99+","+GateVariationAvg {
		t.Errorf("readings %s", got)
	}
	r.Latency[a] = Latency{AvgMS: 2, P99MS: 15, Samples: 100}
	if d := Decide(r, g); d.Verdict != Abort || !strings.Contains(d.Reason(), "latency_variation_p99 200%") {
		t.Errorf("+200%%: %v", d)
	}
	r.Latency[a] = Latency{AvgMS: 2, P99MS: 5.4, Samples: 100}
	if d := Decide(r, g); d.Verdict != Proceed {
		t.Errorf("+8%%: %v", d)
	}
	// Off: no reading, whatever the baseline.
	if d := Decide(r, inventory.Gates{}); len(d.Readings) != 0 {
		t.Errorf("gate off, yet readings %+v", d.Readings)
	}
}

// pingHelperEnv carries the separate measurement's parameters to the
// helper process: address, start and end (unix nanos), interval.
const pingHelperEnv = "SLOTSHIFT_TEST_PING_HELPER"

// TestPingHelperProcess is not a test: run by TestHonestProbe as a separate
// process, it PINGs one node with its own client from start to end and
// prints the latency summary as JSON.
func TestPingHelperProcess(t *testing.T) {
	spec := os.Getenv(pingHelperEnv)
	if spec == "" {
		t.Skip("helper process of TestHonestProbe")
	}
	f := strings.Split(spec, ",")
	start, _ := strconv.ParseInt(f[1], 10, 64)
	end, _ := strconv.ParseInt(f[2], 10, 64)
	every, _ := time.ParseDuration(f[3])
	c := admin.NewClient(f[0], admin.Options{Password: os.Getenv("SLOTSHIFT_PASSWORD")})
	defer c.Close()
	ctx := context.Background()
	time.Sleep(time.Until(time.Unix(0, start)))
	h := measure.NewHistogram()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for time.Now().UnixNano() < end {
		s := time.Now()
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		_ = h.RecordValue(measure.Micros(time.Since(s)))
		<-tick.C
	}
	out, _ := json.Marshal(measure.Summarize(h))
	fmt.Println("PINGS " + string(out))
}

// burn runs a Lua CPU burner on the node in bursts of burst every period,
// until ctx ends.
func burn(ctx context.Context, addr, password string, burst, period time.Duration) {
	c := admin.NewClient(addr, admin.Options{Password: password})
	defer c.Close()
	const script = `local t = redis.call('TIME') local s = t[1]*1000000 + t[2]
while true do t = redis.call('TIME') if t[1]*1000000 + t[2] - s >= tonumber(ARGV[1]) then break end end
return 0`
	for ctx.Err() == nil {
		_ = c.Eval(ctx, script, nil, burst.Microseconds()).Err()
		_ = sleepCtx(ctx, period-burst)
	}
}

// TestHonestProbe checks the gate Monitor's latency against a separate
// measurement: while a Lua CPU burner stalls one master in bursts, a
// separate process with its own client PINGs that master at the Monitor's
// interval over the same span as the Monitor's baseline measurement. The
// two p99s must agree within 35%.
func TestHonestProbe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	c := sandboxtest.Start(t, 3, sandboxtest.Options{})
	c.Form(t, 3)
	masters := c.Addrs()
	target := masters[0]
	pool := admin.NewPool(admin.Options{Password: c.Password})
	t.Cleanup(func() { _ = pool.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := NewMonitor(pool, masters, nil, MonitorOptions{Interval: 20 * time.Millisecond, InfoInterval: 200 * time.Millisecond})
	m.Start(ctx)
	defer m.Close()

	burnCtx, stopBurn := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Bursts long and frequent enough (60ms of every 200ms) that p99 is
	// set by the node's stalls, not by a scheduling hiccup of either
	// measuring process on a busy test machine.
	wg.Go(func() { burn(burnCtx, target, c.Password, 60*time.Millisecond, 200*time.Millisecond) })
	defer wg.Wait()
	defer stopBurn()

	const span = 4 * time.Second
	start := time.Now().Add(500 * time.Millisecond) // the helper has started by then
	end := start.Add(span)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestPingHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		pingHelperEnv+"="+fmt.Sprintf("%s,%d,%d,%s", target, start.UnixNano(), end.UnixNano(), m.LatencyInterval()),
		"SLOTSHIFT_PASSWORD="+c.Password)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(start))
	base, err := m.MeasureBaseline(ctx, span)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out.String())
	}
	_, js, ok := strings.Cut(out.String(), "PINGS ")
	var sep Latency
	if !ok || json.Unmarshal([]byte(strings.SplitN(js, "\n", 2)[0]), &sep) != nil {
		t.Fatalf("helper output:\n%s", out.String())
	}
	mon := base[target]
	t.Logf("over %v on %s: gate Monitor p99 %.2fms avg %.2fms (%d PINGs); separate process p99 %.2fms avg %.2fms (%d PINGs)",
		span, target, mon.P99MS, mon.AvgMS, mon.Samples, sep.P99MS, sep.AvgMS, sep.Samples)
	if mon.Samples < 50 || sep.Samples < 50 {
		t.Fatalf("too few samples: monitor %d, separate %d", mon.Samples, sep.Samples)
	}
	if sep.P99MS < 20 {
		t.Fatalf("the burner did not show in the separate measurement (p99 %.2fms)", sep.P99MS)
	}
	if diff := math.Abs(mon.P99MS-sep.P99MS) / sep.P99MS; diff > 0.35 {
		t.Errorf("gate Monitor p99 %.2fms is %.0f%% off the separate measurement's %.2fms", mon.P99MS, diff*100, sep.P99MS)
	}
	// The baseline the variation gate compares with is the widest
	// reading in the window: never below the whole window's.
	if b := m.Readings().Baseline[target]; b.P99MS < mon.P99MS || b.AvgMS < mon.AvgMS || b.Samples != mon.Samples {
		t.Errorf("Readings().Baseline[%s] = %+v, want at least %+v", target, b, mon)
	}
}

// Before the first batch the variation gate does not hold: the run has had
// no impact to grade yet. The next wait, with a batch behind it, holds on
// the same readings.
func TestFirstWaitIgnoresVariation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	c, masters, m, ctx := monitoredCluster(t, MonitorOptions{Interval: 20 * time.Millisecond, Window: 2 * time.Second, InfoInterval: 200 * time.Millisecond})
	if _, err := m.MeasureBaseline(ctx, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// A Lua burner stalls master 0 for 60ms in every 150ms from now to
	// the test's end: its p99 goes far over its idle baseline (even one
	// taken on a loaded machine), but stays under the absolute thresholds.
	burnUntilCleanup(t, ctx, c, masters[0], 60*time.Millisecond, 150*time.Millisecond)
	g := inventory.Gates{
		LatencyP99MS:            inventory.Threshold{Hold: 1000, Abort: 10000},
		LatencyVariationPercent: inventory.Threshold{Hold: 100, Abort: 1000000},
		MemoryPercent:           inventory.Threshold{Hold: 80, Abort: 95},
	}
	showing := func() {
		for deadline := time.Now().Add(10 * time.Second); ; {
			d := Decide(m.Readings(), g)
			if d.Verdict == Hold && holdsOn(d, "latency_variation_p99 ", masters[0]) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the stalls never showed as a variation on %s: %v", masters[0], d)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	showing()
	p := Policy{Monitor: m, Gates: g, HoldTimeout: time.Second}
	if d, err := p.Wait(ctx); err != nil || d.Verdict != Proceed {
		t.Fatalf("first Wait = %v, %v; want proceed (no batch has run)", d, err)
	}
	// A later Wait holds on the same stalls. On a loaded machine the hold
	// may clear in a calm gap between two bursts: it must hold in one of
	// three tries, each on the stalls showing again.
	for try := 1; ; try++ {
		showing()
		d, err := p.Wait(ctx)
		// Other nodes may hold on their own noise: the check is on master 0.
		if errors.Is(err, ErrHoldTimeout) && holdsOn(d, "latency_variation_p99 ", masters[0]) {
			break
		}
		r := m.Readings()
		if try == 3 {
			t.Fatalf("later Wait = %v, %v; want a hold on the variation of %s (now %+v, baseline %+v)", d, err, masters[0], r.Latency[masters[0]], r.Baseline[masters[0]])
		}
		t.Logf("try %d: later Wait = %v, %v (now %+v)", try, d, err, r.Latency[masters[0]])
	}
}

// A second look judges as many PINGs per node as the baseline holds: with
// a 2s baseline an abort is confirmed no sooner than ~2s, whatever a
// shorter abort_recheck says.
func TestSecondLookAsLongAsBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	c, masters, m, ctx := monitoredCluster(t, MonitorOptions{InfoInterval: 200 * time.Millisecond})
	base, err := m.MeasureBaseline(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	burnUntilCleanup(t, ctx, c, masters[0], 30*time.Millisecond, 60*time.Millisecond)
	g := inventory.Gates{
		LatencyVariationPercent: inventory.Threshold{Hold: 10, Abort: 300},
		MemoryPercent:           inventory.Threshold{Hold: 80, Abort: 95},
		AbortRecheck:            inventory.Duration{Duration: 500 * time.Millisecond},
	}
	p := Policy{Monitor: m, Gates: g, HoldTimeout: 30 * time.Second}
	if _, err := p.Wait(ctx); err != nil { // the first wait: before any batch
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if d := Decide(m.Readings(), g); d.Verdict == Abort && holdsOn(d, "latency_variation_p99 ", masters[0]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the burner never showed as an abort on %s", masters[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	d, err := p.Wait(ctx)
	el := time.Since(start)
	want := time.Duration(base[masters[0]].Samples) * m.LatencyInterval()
	t.Logf("aborted after %v; baseline %d samples, %v at the probe rate", el.Round(time.Millisecond), base[masters[0]].Samples, want)
	if err != nil || d.Verdict != Abort {
		t.Fatalf("Wait = %v, %v; want an abort after the second look", d, err)
	}
	if el < max(want, time.Second)*9/10 {
		t.Errorf("the second look took %v, want at least the baseline's %v of PINGs", el, want)
	}
}

// monitoredCluster starts a formed 3-master cluster and a started Monitor
// of its masters with o, all closed at the test's end; ctx ends within a
// minute.
func monitoredCluster(t *testing.T, o MonitorOptions) (*sandboxtest.Cluster, []string, *Monitor, context.Context) {
	t.Helper()
	c := sandboxtest.Start(t, 3, sandboxtest.Options{})
	c.Form(t, 3)
	masters := c.Addrs()
	pool := admin.NewPool(admin.Options{Password: c.Password})
	t.Cleanup(func() { _ = pool.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	m := NewMonitor(pool, masters, nil, o)
	m.Start(ctx)
	t.Cleanup(m.Close)
	return c, masters, m, ctx
}

// burnUntilCleanup runs a Lua burner on addr, burst in every period, until
// the test ends (or ctx does).
func burnUntilCleanup(t *testing.T, ctx context.Context, c *sandboxtest.Cluster, addr string, burst, period time.Duration) {
	bctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		burn(bctx, addr, c.Password, burst, period)
	}()
	t.Cleanup(func() { stop(); wg.Wait() })
}

// holdsOn reports whether one of d's reasons names both what and node.
func holdsOn(d Decision, what, node string) bool {
	for _, r := range d.Reasons {
		if strings.Contains(r, what) && strings.Contains(r, node+" ") {
			return true
		}
	}
	return false
}

// A baseline measured again only widens: master 0's first baseline is
// taken while a Lua burner stalls it, the second after the burner stops.
// The second window is the calmer one, yet master 0 keeps the first's p99
// (both are latencies it showed with nothing moving), and every master
// keeps the larger of its two.
func TestMeasureBaselineWidens(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	c, masters, m, ctx := monitoredCluster(t, MonitorOptions{Interval: 10 * time.Millisecond, Window: 2 * time.Second, InfoInterval: 200 * time.Millisecond})
	bctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { burn(bctx, masters[0], c.Password, 40*time.Millisecond, 100*time.Millisecond) })
	first, err := m.MeasureBaseline(ctx, time.Second)
	stop()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if first[masters[0]].P99MS < 20 {
		t.Fatalf("the burner did not show in the first baseline: %+v", first[masters[0]])
	}
	second, err := m.MeasureBaseline(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if second[masters[0]].P99MS >= first[masters[0]].P99MS {
		t.Fatalf("the second window was not calmer on %s: p99 %.2fms, then %.2fms", masters[0], first[masters[0]].P99MS, second[masters[0]].P99MS)
	}
	kept := m.Readings().Baseline
	for _, a := range masters {
		if want := widen(first[a], second[a]); kept[a] != want {
			t.Errorf("%s: baseline %+v after %+v then %+v, want %+v", a, kept[a], first[a], second[a], want)
		}
	}
	if kept[masters[0]].P99MS != first[masters[0]].P99MS {
		t.Errorf("%s lost its first, wider p99: kept %.2fms, first %.2fms", masters[0], kept[masters[0]].P99MS, first[masters[0]].P99MS)
	}
}

// The baseline kept is the widest reading the gate's own window takes
// while wholly inside the baseline's span: a stall that is 2% of one gate
// window is under 1% of the whole span, so the whole span's p99 misses it
// and the kept baseline does not. The window's first sub-histogram began
// before the span (it holds PINGs from before it) and is left out; before
// a window has fit inside, the whole span is all there is.
func TestBaselineKeepsTheWidestGateReading(t *testing.T) {
	const a = "10.0.0.1:7000"
	measure := func(buckets, stalled int) (whole, kept Latency) {
		m := NewMonitor(nil, []string{a}, nil, MonitorOptions{})
		p := m.lat[a]
		m.startBaseline()
		for b := range buckets {
			m.mu.Lock()
			for range 100 {
				m.recordLatency(p, time.Now(), 300)
			}
			if b == stalled {
				for range 10 {
					m.recordLatency(p, time.Now(), 5000)
				}
			}
			m.mu.Unlock()
			if b < buckets-1 {
				m.rotate()
			}
		}
		whole = m.endBaseline()[a]
		kept, _ = m.Baseline(a)
		return whole, kept
	}
	whole, kept := measure(10, 3)
	t.Logf("10 buckets, the fourth stalled: whole %+v, kept %+v", whole, kept)
	if whole.Samples != 1010 || kept.Samples != whole.Samples {
		t.Errorf("samples: whole %d, kept %d, want 1010", whole.Samples, kept.Samples)
	}
	if whole.P99MS > 0.31 {
		t.Errorf("whole p99 %.2fms: the stall is under 1%% of the span", whole.P99MS)
	}
	if kept.P99MS < 4.9 || kept.AvgMS <= whole.AvgMS {
		t.Errorf("kept %+v does not show the window with the stall (whole %+v)", kept, whole)
	}
	// A stall in the first sub-histogram, which began before the span.
	if whole, kept := measure(10, 0); kept != whole {
		t.Errorf("stall before the span: kept %+v, want the whole span's %+v", kept, whole)
	}
	// A window's length of sub-histograms: none fits inside the span.
	if whole, kept := measure(windowBuckets, 2); kept != whole {
		t.Errorf("short span: kept %+v, want the whole span's %+v", kept, whole)
	}
	// One more fits, ending in the sub-histogram still filling.
	if _, kept := measure(windowBuckets+1, windowBuckets); kept.P99MS < 4.9 {
		t.Errorf("the last sub-histogram's stall: kept %+v", kept)
	}
}

// TestFloorBaseline: every master, loaded or owning no slot, is budgeted
// against at least the loaded masters' median as drawn, p99 and average
// each on its own; a wider field stays, only the masters raised are
// returned, a master without a baseline gets none, and with no loaded
// baseline nothing is raised.
func TestFloorBaseline(t *testing.T) {
	const (
		l1, l2, l3 = "10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"
		empty      = "10.0.0.4:7000"
		wide       = "10.0.0.5:7000"
		unmeasured = "10.0.0.6:7000"
		even       = "10.0.0.7:7000"
		above      = "10.0.0.8:7000"
	)
	m := NewMonitor(nil, []string{l1, l2, l3, empty, wide, unmeasured, even, above}, nil, MonitorOptions{})
	m.baseline = map[string]Latency{
		l1:    {P99MS: 0.30, AvgMS: 0.20, Samples: 300},
		l2:    {P99MS: 0.90, AvgMS: 0.10, Samples: 300},
		l3:    {P99MS: 0.50, AvgMS: 0.40, Samples: 300},
		empty: {P99MS: 0.27, AvgMS: 0.05, Samples: 300},
		wide:  {P99MS: 2.00, AvgMS: 0.15, Samples: 300},
		even:  {P99MS: 0.10, AvgMS: 0.05, Samples: 300},
		above: {P99MS: 0.60, AvgMS: 0.30, Samples: 300},
	}
	raised := m.FloorBaseline([]string{l1, l2, l3, empty, wide, unmeasured, above}, []string{l1, l2, l3, unmeasured})
	if want := []string{l1, l2, empty, wide}; !slices.Equal(raised, want) {
		t.Fatalf("raised %v, want %v", raised, want)
	}
	for addr, want := range map[string]Latency{
		// The median of the loaded masters as they were drawn, before
		// any is raised: p99 0.50 of 0.30, 0.50, 0.90; avg 0.20 of 0.10,
		// 0.20, 0.40.
		l1:    {P99MS: 0.50, AvgMS: 0.20, Samples: 300}, // a loaded master's calm p99
		l2:    {P99MS: 0.90, AvgMS: 0.20, Samples: 300}, // its own p99 is wider, its average is not
		l3:    {P99MS: 0.50, AvgMS: 0.40, Samples: 300}, // the median itself
		empty: {P99MS: 0.50, AvgMS: 0.20, Samples: 300},
		wide:  {P99MS: 2.00, AvgMS: 0.20, Samples: 300},
		above: {P99MS: 0.60, AvgMS: 0.30, Samples: 300}, // over the median on both: as it was
		even:  {P99MS: 0.10, AvgMS: 0.05, Samples: 300}, // not in to
	} {
		if got, _ := m.Baseline(addr); got != want {
			t.Errorf("%s: baseline %+v, want %+v", addr, got, want)
		}
	}
	if b, ok := m.Baseline(unmeasured); ok {
		t.Errorf("a master that answered no PING was given %+v; it must hold as one without a baseline", b)
	}
	// An even count takes the mean of the middle two.
	m.FloorBaseline([]string{even}, []string{l3, above})
	if b, _ := m.Baseline(even); math.Abs(b.P99MS-0.55) > 1e-9 || math.Abs(b.AvgMS-0.35) > 1e-9 {
		t.Errorf("median of two: %+v, want p99 0.55 avg 0.35", b)
	}
	if raised := m.FloorBaseline([]string{empty}, []string{unmeasured}); raised != nil {
		t.Errorf("raised %v with no loaded baseline", raised)
	}
}
