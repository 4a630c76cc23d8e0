package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/logkey"
	"github.com/slotshift/slotshift/pkg/measure"
)

// ErrHoldTimeout is returned by Wait when the gates stayed on hold for the
// whole hold timeout.
var ErrHoldTimeout = errors.New("gates held past the hold timeout")

// windowBuckets is how many sub-histograms make up the latency window; the
// window slides by Window/windowBuckets.
const windowBuckets = 5

// MonitorOptions configure a Monitor. Zero values take the defaults.
type MonitorOptions struct {
	// Interval is the replication-lag probe period. Default 100ms.
	Interval time.Duration
	// LatencyInterval is the least period of the PING latency probe per
	// master. Default 10ms: with a 2 s window that is ~200 samples per
	// master, so p99 is a percentile, not the single slowest PING. Beyond
	// 20 masters the period grows to keep the total rate bounded; see
	// ProbeInterval.
	LatencyInterval time.Duration
	// Window is the span latency avg/p99 are computed over. Default 2s.
	Window time.Duration
	// InfoInterval is the period of the INFO cpu/memory and cluster-state
	// probes; CPU % is the delta between two of them. Default 1s.
	InfoInterval time.Duration
	// LagTimeout bounds one replication-lag measurement; a replica that has
	// not caught up by then reads as LagTimeout. Default 10s.
	LagTimeout time.Duration
	// CalmPeriod is how long Wait, once holding, looks at latency measured
	// since the hold began instead of the whole window. While the run holds
	// it starts nothing new (a batch already in flight may finish, which
	// only makes those samples stricter), so they show how the cluster fares
	// now; the window would keep the spike that caused the hold for up to
	// Window after it ended. With 10ms probes that is ~30 samples per master, and
	// p99 of them is their maximum: one slow PING keeps the hold. Default
	// 300ms.
	CalmPeriod time.Duration
	// Links are the servers gated on network use (see Links), probed
	// every InfoInterval. Default: none.
	Links map[string]Link
	// Log receives probe errors at debug level. Default: discard.
	Log *slog.Logger
}

func (o MonitorOptions) withDefaults() MonitorOptions {
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	if o.LatencyInterval <= 0 {
		o.LatencyInterval = 10 * time.Millisecond
	}
	if o.Window <= 0 {
		o.Window = 2 * time.Second
	}
	if o.InfoInterval <= 0 {
		o.InfoInterval = time.Second
	}
	if o.LagTimeout <= 0 {
		o.LagTimeout = 10 * time.Second
	}
	if o.CalmPeriod <= 0 {
		o.CalmPeriod = 300 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Monitor runs the probes in the background and keeps the latest Readings.
// Start it once, read it from any goroutine, Close it when done.
type Monitor struct {
	pool     *admin.Pool
	masters  []string
	replicas map[string]string
	opts     MonitorOptions

	mu       sync.Mutex
	lat      map[string]*latencyProbe
	lag      map[string]float64
	cpu      map[string]float64
	mem      map[string]float64
	state    map[string]string
	failing  map[string][]string // reporter addr -> failing nodes it sees
	errs     map[string]map[string]string
	lastInfo map[string]measure.CPUSample
	net      *networkProbe
	// holdStart is when Wait began holding; zero when it is not holding.
	holdStart time.Time
	holds     int           // holds Wait has ended
	heldFor   time.Duration // their total length
	// look is an abort awaiting its second look; lookStart and lookDue
	// bound the fresh samples it is judged on (see secondlook.go).
	look      secondLook
	lookStart time.Time
	lookDue   time.Time
	// baseline is each master's latency before the first batch, and
	// baseStart when it began to be measured (see MeasureBaseline).
	baseline  map[string]Latency
	baseStart time.Time
	// baseRotations counts the latency window's slides since baseStart.
	baseRotations int
	// waited is set by the first Policy.Wait: before it, no batch runs.
	waited atomic.Bool
	// wasReady latches ready(): every probe has had a first reading.
	wasReady atomic.Bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type latencyProbe struct {
	hist     *window
	since    *latHist     // samples since the current hold began; nil when not holding
	look     *latHist     // samples since an abort's second look began; nil when none
	base     *envelope    // samples of the baseline being measured; nil when not
	sent     atomic.Int64 // PINGs sent
	inflight atomic.Int64 // unix nanos when the outstanding PING was sent; 0 if none
	seen     atomic.Bool  // a PING has been answered
}

// NewMonitor returns a Monitor for the given masters and replicas
// (replica address -> its master's address). It does no I/O until Start.
func NewMonitor(pool *admin.Pool, masters []string, replicas map[string]string, opts MonitorOptions) *Monitor {
	m := &Monitor{
		pool:     pool,
		masters:  append([]string(nil), masters...),
		replicas: cloneMap(replicas),
		opts:     opts.withDefaults(),
		lat:      map[string]*latencyProbe{},
		lag:      map[string]float64{},
		cpu:      map[string]float64{},
		mem:      map[string]float64{},
		state:    map[string]string{},
		failing:  map[string][]string{},
		errs:     map[string]map[string]string{},
		lastInfo: map[string]measure.CPUSample{},
		net:      newNetworkProbe(opts.Links),
	}
	for _, a := range m.masters {
		m.lat[a] = &latencyProbe{hist: newWindow(windowBuckets)}
	}
	return m
}

// Start launches the probes; they stop when ctx ends or Close is called.
func (m *Monitor) Start(ctx context.Context) {
	ctx, m.cancel = context.WithCancel(ctx)
	for _, a := range m.masters {
		m.loop(ctx, m.LatencyInterval(), func(ctx context.Context) { m.probeLatency(ctx, a) })
	}
	for r, master := range m.replicas {
		m.loop(ctx, m.LagInterval(), func(ctx context.Context) { m.probeLag(ctx, r, master) })
	}
	every := m.viewEvery()
	for i, a := range m.nodes() {
		// Views are staggered over the nodes: each InfoInterval about
		// 1/every of them read CLUSTER NODES, and the first probe of each
		// node reads it, so a failing node shows before the first batch.
		calls := 0
		m.loop(ctx, m.opts.InfoInterval, func(ctx context.Context) {
			m.probeInfo(ctx, a, takesView(i, calls, every))
			calls++
			// CPU % needs two samples: take the second one early so the
			// first decision does not wait a whole InfoInterval.
			m.mu.Lock()
			_, have := m.cpu[a]
			m.mu.Unlock()
			if !have && sleepCtx(ctx, firstCPUDelta) {
				m.probeInfo(ctx, a, false)
			}
		})
	}
	m.net.start(ctx, m)
	m.loop(ctx, m.opts.Window/windowBuckets, func(context.Context) { m.rotate() })
}

// Close stops the probes and waits for them to return.
func (m *Monitor) Close() {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
}

func (m *Monitor) nodes() []string {
	out := append([]string(nil), m.masters...)
	for r := range m.replicas {
		out = append(out, r)
	}
	return sorted(out)
}

// firstCPUDelta is the gap between the first two INFO samples of a node.
// CPU % over it is coarser than over InfoInterval, but the first decision
// (before the first batch) does not wait for it longer than needed.
const firstCPUDelta = 50 * time.Millisecond

// waitPoll is how often Wait re-decides (or Interval, if shorter): a hold
// ends within waitPoll of the readings turning green.
const waitPoll = 20 * time.Millisecond

// waitPollPerMaster is the least period Wait decides at, per master: a
// decision summarises every master's latency window and grades every
// node's readings, so on a 50-master cluster deciding every 20 ms kept
// a third of a core busy while the run merely held.
const waitPollPerMaster = 2 * time.Millisecond

// waitPoll is how often Wait decides: waitPoll, or waitPollPerMaster per
// master on large clusters, and at most the lag probe's Interval.
func (m *Monitor) waitPoll() time.Duration {
	return min(m.opts.Interval, max(waitPoll, time.Duration(len(m.masters))*waitPollPerMaster))
}

// sleepCtx sleeps for d; it reports false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// loop runs f at a fixed period (not back to back: a slow f delays the next).
func (m *Monitor) loop(ctx context.Context, every time.Duration, f func(context.Context)) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			f(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (m *Monitor) setErr(addr, probe string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.errs[addr], probe)
		return
	}
	if m.errs[addr] == nil {
		m.errs[addr] = map[string]string{}
	}
	m.errs[addr][probe] = err.Error()
}

func (m *Monitor) probeLatency(ctx context.Context, addr string) {
	p := m.lat[addr]
	start := time.Now()
	p.sent.Add(1)
	p.inflight.Store(start.UnixNano())
	err := m.pool.Ping(ctx, addr)
	elapsed := time.Since(start)
	p.inflight.Store(0)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		m.opts.Log.Debug("latency probe failed", logkey.Node, addr, logkey.Error, err)
		m.setErr(addr, "latency", fmt.Errorf("PING: %w", err))
		return
	}
	m.setErr(addr, "latency", nil)
	us := measure.Micros(elapsed)
	p.seen.Store(true)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recordLatency(p, start, us)
}

// recordLatency records a PING sent at start that took us. m.mu is held.
func (m *Monitor) recordLatency(p *latencyProbe, start time.Time, us int64) {
	p.hist.record(us)
	if p.since != nil && !start.Before(m.holdStart) {
		p.since.record(us)
	}
	if p.look != nil && !start.Before(m.lookStart) {
		p.look.record(us)
	}
	if p.base != nil && !start.Before(m.baseStart) {
		p.base.whole.record(us)
	}
}

// rotate slides every master's latency window on. While a baseline is
// measured, each window wholly inside it is first taken into the
// baseline's widest reading: the gate's own readings at rest.
func (m *Monitor) rotate() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.lat {
		m.foldGateReading(p)
		p.hist.rotate()
	}
	m.baseRotations++
}

// probeLag records one ProbeLag of replica.
func (m *Monitor) probeLag(ctx context.Context, replica, master string) {
	lag, err := ProbeLag(ctx, m.pool, replica, master, m.opts.LagTimeout)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		m.opts.Log.Debug("lag probe failed", logkey.Node, replica, logkey.Error, err)
	} else {
		m.mu.Lock()
		m.lag[replica] = lag
		m.mu.Unlock()
	}
	m.setErr(replica, "lag", err)
}

// probeInfo reads the node's vitals: CPU % against the previous sample,
// memory %, cluster_state and, with view, the nodes it sees failing.
func (m *Monitor) probeInfo(ctx context.Context, addr string, view bool) {
	v, err := m.pool.Vitals(ctx, addr, view)
	now := time.Now()
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		err = m.record(addr, now, v)
	}
	if err != nil {
		m.opts.Log.Debug("info probe failed", logkey.Node, addr, logkey.Error, err)
	}
	m.setErr(addr, "info", err)
}

// record keeps what one Vitals read says.
func (m *Monitor) record(addr string, at time.Time, v admin.Vitals) error {
	cpu, err1 := measure.CPUSeconds(v.Info)
	_, err2 := measure.Float(v.Info, "used_memory")
	_, err3 := measure.Float(v.Info, "maxmemory")
	_, err4 := measure.Float(v.Info, "total_system_memory")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	var failing []string
	for _, n := range v.Nodes {
		if n.Failing() {
			failing = append(failing, fmt.Sprintf("%s %s (seen by %s)", n.Addr, strings.Join(n.Flags, ","), addr))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := measure.CPUSample{At: at, Seconds: cpu}
	if prev, ok := m.lastInfo[addr]; ok {
		if pct, ok := measure.CPUPercent(prev, s); ok {
			m.cpu[addr] = pct
		}
	}
	m.lastInfo[addr] = s
	if pct, ok := measure.MemoryPercent(v.Info, nil); ok {
		m.mem[addr] = pct
	}
	m.state[addr] = v.ClusterInfo["cluster_state"]
	if v.Nodes != nil {
		m.failing[addr] = failing
	}
	return nil
}

// Readings returns a copy of the latest readings. A PING still outstanding
// counts as a sample of its age so far, so a stalled master turns red while
// it is stalled, not after.
func (m *Monitor) Readings() Readings { return m.readings(false) }

// readings is Readings; with look, latency is judged on the pending
// second look's samples even before the look is due.
func (m *Monitor) readings(look bool) Readings {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := Readings{
		Taken:         now,
		Masters:       append([]string(nil), m.masters...),
		Latency:       map[string]Latency{},
		ReplLagMS:     cloneMap(m.lag),
		CPUPercent:    cloneMap(m.cpu),
		MemoryPercent: cloneMap(m.mem),
		ClusterState:  cloneMap(m.state),
		Baseline:      cloneMap(m.baseline),
		// The network probe's lock nests inside m.mu, never around it.
		NetworkPercent: m.net.percent(),
		Linked:         m.net.servers(),
	}
	for a := range m.replicas {
		r.Replicas = append(r.Replicas, a)
	}
	r.Replicas = sorted(r.Replicas)
	for a, p := range m.lat {
		if l := m.latencyOf(p, now, look); l.Samples > 0 {
			r.Latency[a] = l
		}
	}
	for _, fs := range m.failing {
		r.Failing = append(r.Failing, fs...)
	}
	for a, es := range m.errs {
		for probe, e := range es {
			if r.Errors == nil {
				r.Errors = map[string]string{}
			}
			if prev, ok := r.Errors[a]; ok {
				r.Errors[a] = prev + "; " + probe + ": " + e
			} else {
				r.Errors[a] = probe + ": " + e
			}
		}
	}
	return r
}

// latencyOf is p's latency at now: over the window, or over the samples
// since a hold began once it has lasted CalmPeriod, or over an abort's
// second look once that is due. A PING still outstanding counts at its
// age. m.mu is held.
func (m *Monitor) latencyOf(p *latencyProbe, now time.Time, look bool) Latency {
	calm := !m.holdStart.IsZero() && now.Sub(m.holdStart) >= m.opts.CalmPeriod
	second := look || (!m.lookDue.IsZero() && !now.Before(m.lookDue))
	h := p.since
	if !calm || h == nil || h.TotalCount() == 0 {
		h = p.hist.merge()
	}
	if second && p.look != nil {
		h = p.look // an empty look leaves only the outstanding PING to judge
	}
	l := h.summary()
	if t := p.inflight.Load(); t != 0 {
		if age := float64(now.Sub(time.Unix(0, t)).Microseconds()) / 1000; age > l.P99MS && age > float64(m.opts.Interval.Milliseconds()) {
			l.P99MS = age
			l.AvgMS = max(l.AvgMS, age)
			l.Samples++
		}
	}
	return l
}

// NodeLatency is one master's latency as Readings has it, without the
// cost of a whole snapshot: the pacer reads it for every source and
// target several times a second. ok is false when addr has no sample or
// its PING probe fails.
func (m *Monitor) NodeLatency(addr string) (l Latency, at time.Time, ok bool) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.lat[addr]
	if p == nil || m.errs[addr]["latency"] != "" {
		return Latency{}, now, false
	}
	l = m.latencyOf(p, now, false)
	return l, now, l.Samples > 0
}

// Baseline is addr's latency baseline, ok false when it has none.
func (m *Monitor) Baseline(addr string) (Latency, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.baseline[addr]
	return b, ok
}

// Wait blocks while the gates hold. It returns the first non-hold decision
// (proceed or abort, with a nil error), or the last hold decision with
// ErrHoldTimeout once holdTimeout has passed (0 means do not wait at all),
// or with ctx's error when ctx ends. Once it holds for CalmPeriod, latency
// is judged on the samples taken since the hold began. An abort is
// returned only after its second look (see secondlook.go).
func (m *Monitor) Wait(ctx context.Context, g inventory.Gates, holdTimeout time.Duration) (Decision, error) {
	return m.wait(ctx, g, holdTimeout, false, false)
}

// wait is Wait; with abortHolds an abort holds like any red gate (before
// the first batch there is nothing in flight an abort would protect).
func (m *Monitor) wait(ctx context.Context, g inventory.Gates, holdTimeout time.Duration, abortHolds, idleLooks bool) (Decision, error) {
	deadline := time.Now().Add(holdTimeout)
	t := time.NewTicker(m.waitPoll())
	defer t.Stop()
	defer m.setHolding(false)
	var heldSince time.Time
	defer func() {
		if !heldSince.IsZero() {
			m.mu.Lock()
			m.holds++
			m.heldFor += time.Since(heldSince)
			m.mu.Unlock()
		}
	}()
	for {
		d := m.decide(g, idleLooks)
		if abortHolds && d.Verdict == Abort {
			d = holdBeforeStart(d)
		}
		if d.Verdict != Hold {
			if !heldSince.IsZero() {
				m.opts.Log.Info("gates no longer hold", "held", time.Since(heldSince).Round(time.Millisecond), "verdict", d.Verdict.String())
			}
			return d, nil
		}
		// Waiting for the probes' first readings is not worth a log line;
		// a hold on a red reading (or on a probe's error) is, even while
		// another probe still waits for its first reading.
		if heldSince.IsZero() && (m.ready() || d.Red()) {
			heldSince = time.Now()
			m.opts.Log.Info("gates hold", "reason", d.Reason())
		}
		m.setHolding(true)
		if !time.Now().Before(deadline) && !m.LookPending() {
			return d, fmt.Errorf("%w (%s): %s", ErrHoldTimeout, holdTimeout, d.Reason())
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-t.C:
		}
	}
}

// Red reports whether a reading of d is over a threshold (rather than d
// holding only for readings still missing).
func (d Decision) Red() bool {
	for _, r := range d.Readings {
		if r.Decision != Proceed.String() {
			return true
		}
	}
	return false
}

// Held returns how many times Wait has held (not counting the wait for the
// probes' first readings) and for how long in all.
func (m *Monitor) Held() (int, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.holds, m.heldFor
}

// ready reports whether every probe has a first reading or an error.
//
// Once true it stays true: a probe that fails and recovers later (a CPU
// reading needs two samples again) is not a wait for first readings.
func (m *Monitor) ready() bool {
	if m.wasReady.Load() {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	has := func(addr, probe string, ok bool) bool {
		_, failed := m.errs[addr][probe]
		return ok || failed
	}
	for a, p := range m.lat {
		if !has(a, "latency", p.seen.Load()) {
			return false
		}
	}
	for _, a := range m.nodes() {
		_, ok := m.cpu[a]
		if !has(a, "info", ok) {
			return false
		}
	}
	for r := range m.replicas {
		_, ok := m.lag[r]
		if !has(r, "lag", ok) {
			return false
		}
	}
	m.wasReady.Store(true)
	return true
}

// setHolding starts (once) or ends the latency record of the current hold;
// see MonitorOptions.CalmPeriod.
func (m *Monitor) setHolding(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case on && m.holdStart.IsZero():
		m.holdStart = time.Now()
		for _, p := range m.lat {
			p.since = newProbeHistogram()
		}
	case !on:
		m.holdStart = time.Time{}
		for _, p := range m.lat {
			p.since = nil
		}
	}
}

// Policy binds a Monitor to thresholds and a hold timeout. It is what a
// migration executor waits on.
type Policy struct {
	Monitor     *Monitor
	Gates       inventory.Gates
	HoldTimeout time.Duration
	// IdleLooks tells that the run sends nothing while an abort awaits
	// its second look (the legacy mover's pacer is paused on
	// Monitor.LookPending). A variation abort that such a look confirms
	// then holds instead: see idleVariation.
	IdleLooks bool
}

// Wait waits on the monitor with the policy's thresholds (see Monitor.Wait).
// Its first call comes before the first batch: there an abort holds, and
// the latency variation gate is not applied. That gate grades the run's
// impact against the baseline just measured; before the first batch the
// run has had none, so a variation there is the machine's own noise (or
// someone else's load, which the absolute gates judge).
func (p Policy) Wait(ctx context.Context) (Decision, error) {
	first := p.Monitor.waited.CompareAndSwap(false, true)
	g := p.Gates
	if first {
		g.LatencyVariationPercent = inventory.Threshold{}
	}
	return p.Monitor.wait(ctx, g, p.HoldTimeout, first, p.IdleLooks)
}

// Current decides on the latest readings without waiting; an abort is
// reported only after its second look.
func (p Policy) Current() Decision { return p.Monitor.decide(p.Gates, p.IdleLooks) }
