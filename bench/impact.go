package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/load"
)

// Client load during every timed run: modest and fixed, so that what
// changes between modes is the rebalance, not the load. The load runs in
// the benchmark's own process; every rebalance runs in a child (the
// measuring wrapper and its command), so the two never share a process.
const (
	loadClients     = 2
	loadRate        = 1000 // operations per second over both clients
	loadKeys        = 10000
	loadReadPercent = 50
	// loadPrefix does not collide with keyName's "key:".
	loadPrefix = "bench:load:"
	// loadBaseline is how long the load runs before the rebalance starts.
	// Its first second (connections, slot map) is warm-up and left out of
	// the baseline window, which is the full seconds after it.
	loadBaseline = 8 * time.Second
	loadWarmup   = 1 // seconds
	// loadAfter is the least the load runs after the rebalance ends, and
	// loadAfterMax the most: it runs as long as the rebalance took
	// between the two (afterFor). The reference the rebalance's impact is
	// judged against is the seconds before it and after it together: on
	// a machine whose own latency drifts (a shared host's steal), one
	// short window on one side reads the drift as impact, or hides impact
	// under it. A long run meets more of the host's slow spells than a
	// 12 s reference does (around 300 s of nothing the client's p99 read
	// 1.09x and 1.14x of the 12 s around it on this project's machine), so
	// its reference grows with it; the ratio to the first loadAfter alone,
	// as earlier rounds measured it, is kept beside (impact.ShortRatio).
	loadAfter    = 5 * time.Second
	loadAfterMax = 120 * time.Second
	// loadSlack bounds the load past the run's timeout: the load phase
	// always ends, even when Stop is never reached.
	loadSlack = 30 * time.Second
)

// impact is what the client load saw around one timed rebalance.
type impact struct {
	// BeforeP99MS, AfterP99MS and DuringP99MS are the client p99 of the
	// windows before and after the rebalance and of the rebalance itself,
	// ms: the p99 of every operation that completed in the window (see
	// load.Spans), not a mean of per-second p99s.
	BeforeP99MS float64 `json:"p99_before_ms"`
	AfterP99MS  float64 `json:"p99_after_ms"`
	DuringP99MS float64 `json:"p99_during_ms"`
	// Ratio is DuringP99MS over the p99 of the before and after windows
	// together (see loadAfter); 0 when either is unknown.
	Ratio float64 `json:"p99_ratio"`
	// ShortRatio is DuringP99MS over the p99 of the before window and the
	// first loadAfter of the after window: the reference of earlier
	// rounds, the same as Ratio's for a run no longer than loadAfter.
	ShortRatio float64 `json:"p99_ratio_short_reference"`
	// SecondsRatio is the ratio that earlier rounds reported: the
	// ops-weighted mean of per-second p99s during over the same mean
	// before and after (see secondsP99). A long window collects the
	// machine's rare slow seconds, which a 12 s reference mostly misses,
	// so it reads a long rebalance high: around 120 s of nothing it read
	// 1.32× in one run on this project's machine, and 1.17× in another
	// whose operations' p99 read 1.11×.
	SecondsRatio float64 `json:"p99_seconds_ratio"`
	// DirectRatio is Ratio over the operations that followed no MOVED or
	// ASK reply, on both sides (load.Spans.Direct), and Redirected how
	// many operations of the rebalance window did follow one: a slot
	// open for long answers its moved keys' clients with ASK, one more
	// round trip each, and the two ratios tell that apart from the
	// sources' slower answers.
	DirectRatio float64 `json:"p99_ratio_direct"`
	Redirected  int64   `json:"redirected_during"`
	// DuringMaxMS is the slowest operation in the rebalance window, ms.
	DuringMaxMS float64 `json:"max_during_ms"`
	Ops         int64   `json:"ops"`
	WritesAcked int64   `json:"writes_acked"`
	// Moved and Ask count the redirects the client followed over the
	// whole load: each costs its operation a second round trip, so a
	// slow migration that spreads them out adds them to the tail.
	Moved int64 `json:"moved"`
	Ask   int64 `json:"ask"`
	// Errors counts failed operations by kind over the whole load run.
	Errors map[string]int64 `json:"errors,omitempty"`
	// Lost and Stale count acknowledged writes that the read-back after
	// the run found missing or overwritten by an older value; Unverified
	// keys could not be read back.
	Lost       int `json:"lost"`
	Stale      int `json:"stale"`
	Unverified int `json:"unverified,omitempty"`
	// Steal is the host's steal in each window, ms per second of it (see
	// steal.go); nil where the machine shows none to read.
	Steal *stealWindows `json:"steal_ms_per_s,omitempty"`
	// CalmRatio is SecondsRatio over the seconds without host steal only
	// (see calmRatio), and CalmRef and CalmDuring how many seconds each
	// side kept; 0 without steal readings.
	CalmRatio  float64 `json:"p99_calm_seconds_ratio,omitempty"`
	CalmRef    int     `json:"calm_seconds_around,omitempty"`
	CalmDuring int     `json:"calm_seconds_during,omitempty"`
}

// stealWindows is the steal around one rebalance, ms per second of each
// window (see stealRates).
type stealWindows struct {
	Before float64 `json:"before"`
	During float64 `json:"during"`
	After  float64 `json:"after"`
}

// loadRun is the client load around one timed rebalance.
type loadRun struct {
	g     *load.Generator
	start time.Time
	// rebStart and rebEnd bound the rebalance, from the load's start.
	rebStart, rebEnd time.Duration
	// res is the load's result once stopped.
	res load.Result
	// steal samples the host's steal beside the load; stealPer is what it
	// read per second once stopped (nil: none to read).
	steal    *stealSampler
	stealPer []time.Duration
}

// loadSeconds is what <mode>.load.json holds: the client load's seconds
// and where the rebalance began and ended among them, so that a kept
// run's client latency can be laid beside its tool's log.
type loadSeconds struct {
	Started        time.Time     `json:"started"`
	RebalanceFromS float64       `json:"rebalance_from_s"`
	RebalanceToS   float64       `json:"rebalance_to_s"`
	Windows        windows       `json:"windows"`
	Seconds        []load.Second `json:"seconds"`
	// StealMS is the host's steal in each of the load's seconds, ms (see
	// steal.go): a slow second with steal in it was the host's.
	StealMS []float64 `json:"steal_ms,omitempty"`
}

// writeSeconds writes lr's seconds to path.
func (lr *loadRun) writeSeconds(path string) error {
	ls := loadSeconds{Started: lr.start, RebalanceFromS: lr.rebStart.Seconds(), RebalanceToS: lr.rebEnd.Seconds(),
		Windows: windowsOf(lr.res.Spans), Seconds: lr.res.Seconds}
	for _, d := range lr.stealPer {
		ls.StealMS = append(ls.StealMS, ms(d))
	}
	b, err := json.MarshalIndent(ls, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// loadOptions is the fixed load against the cluster of seeds; bound caps
// the load phase.
func loadOptions(seeds []string, password string, bound time.Duration) load.Options {
	return load.Options{
		Seeds: seeds, Password: password, Duration: bound, Rate: loadRate,
		Clients: loadClients, Keys: loadKeys, Prefix: loadPrefix, ReadPercent: loadReadPercent,
	}
}

// startLoad starts the load and returns after the baseline, when the
// rebalance may start. runTimeout bounds the rebalance (the load phase
// ends by itself after baseline + runTimeout + slack).
func startLoad(ctx context.Context, seeds []string, password string, runTimeout time.Duration) (*loadRun, error) {
	g, err := load.New(loadOptions(seeds, password, loadBaseline+runTimeout+loadAfterMax+loadSlack))
	if err != nil {
		return nil, err
	}
	lr := &loadRun{g: g, start: time.Now()}
	lr.steal = startSteal(ctx, lr.start)
	g.Start(ctx)
	// The warm-up (connections, slot map) is span 0, the baseline span 1.
	for i, d := range []time.Duration{loadWarmup * time.Second, loadBaseline - loadWarmup*time.Second} {
		if i > 0 {
			g.Mark()
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			_, _ = g.Stop()
			lr.steal.stop()
			return nil, ctx.Err()
		case <-g.Done():
			_, err := g.Stop()
			lr.steal.stop()
			return nil, fmt.Errorf("client load ended during the baseline: %v", err)
		}
	}
	return lr, nil
}

// The load's spans around one rebalance (see load.Generator.Mark).
const (
	spanWarmup = iota
	spanBefore
	spanDuring
	spanAfter     // the first loadAfter after the rebalance
	spanAfterLong // the rest of the after window (afterFor)
)

// afterFor is how long the load runs after a rebalance that took took:
// as long, between loadAfter and loadAfterMax. Pure.
func afterFor(took time.Duration) time.Duration {
	return min(max(took, loadAfter), loadAfterMax)
}

// runUnderLoad is runMode with the client load around it: the baseline,
// the rebalance, then the load's end and read-back (before the caller
// verifies the cluster, whose key count must not include the load's keys).
// A run whose load failed is not a result.
func runUnderLoad(ctx context.Context, c *benchCluster, mode string, rc runConfig) (timedRun, error) {
	lr, err := startLoad(ctx, c.addrs(), c.password, rc.timeout)
	if err != nil {
		return timedRun{}, fmt.Errorf("client load: %w", err)
	}
	lr.g.Mark()
	lr.rebStart = time.Since(lr.start)
	tr, err := runMode(ctx, c, mode, rc)
	lr.rebEnd = time.Since(lr.start)
	lr.g.Mark()
	// The after window: its first loadAfter (the reference of earlier
	// rounds), then the rest of afterFor in a span of its own.
	wait := []time.Duration{loadAfter, afterFor(lr.rebEnd-lr.rebStart) - loadAfter}
after:
	for i, d := range wait {
		if i > 0 {
			lr.g.Mark()
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			break after
		case <-lr.g.Done():
			break after
		}
	}
	im, lerr := lr.stop()
	tr.Impact = &im
	if err == nil {
		err = lerr
	}
	if werr := lr.writeSeconds(filepath.Join(c.dir, mode+".load.json")); err == nil {
		err = werr
	}
	return tr, err
}

// stop ends the load, reads every acknowledged write back, deletes the
// load's keys and returns what the load saw. It must run before the
// cluster is verified (whose key count excludes the load's keys).
func (lr *loadRun) stop() (impact, error) {
	res, err := lr.g.Stop()
	lr.res = res
	lr.stealPer = lr.steal.stop()
	if err != nil && !errors.Is(err, load.ErrCleanup) {
		return impact{}, fmt.Errorf("client load: %w", err)
	}
	im := impactOf(res, windowsOf(res.Spans), lr.rebStart, lr.rebEnd)
	if lr.steal != nil {
		b, d, a := stealRates(lr.stealPer, lr.rebStart, lr.rebEnd)
		im.Steal = &stealWindows{Before: b, During: d, After: a}
		im.CalmRatio, im.CalmRef, im.CalmDuring = calmRatio(res.Seconds, lr.stealPer, lr.rebStart, lr.rebEnd)
	}
	if err != nil {
		return im, fmt.Errorf("client load: %w", err)
	}
	return im, nil
}

// windows are the client latencies around one rebalance: each window's
// operations, and the before and after windows' together (Around), and
// the before window's with the first loadAfter of the after window's
// (AroundShort, the reference of earlier rounds).
type windows struct {
	Before      load.Latency `json:"before"`
	During      load.Latency `json:"during"`
	After       load.Latency `json:"after"`
	Around      load.Latency `json:"before_and_after"`
	AroundShort load.Latency `json:"before_and_first_after"`
	// DuringDirect and AroundDirect are During and Around of the
	// operations that followed no redirect.
	DuringDirect load.Latency `json:"during_direct"`
	AroundDirect load.Latency `json:"before_and_after_direct"`
}

// windowsOf reads the windows from the spans that startLoad and
// runUnderLoad marked; a load that ended early has fewer, which read as
// empty.
func windowsOf(s load.Spans) windows {
	return windows{Before: s.Latency(spanBefore), During: s.Latency(spanDuring), After: s.Latency(spanAfter, spanAfterLong),
		Around: s.Latency(spanBefore, spanAfter, spanAfterLong), AroundShort: s.Latency(spanBefore, spanAfter),
		DuringDirect: s.Direct(spanDuring), AroundDirect: s.Direct(spanBefore, spanAfter, spanAfterLong)}
}

// Which window around a rebalance a second of the load falls in (see
// secondWindow).
const (
	windowNone = iota // warm-up
	windowBefore
	windowDuring
	windowAfter
)

// secondWindow returns the window of the load's second i (from its
// start) around a rebalance [from, to]: before it from the warm-up's end,
// during it when the second overlaps it, after it from its end. Pure.
func secondWindow(i int, from, to time.Duration) int {
	lo := time.Duration(i) * time.Second
	hi := lo + time.Second
	switch {
	case i >= loadWarmup && hi <= from:
		return windowBefore
	case hi > from && lo < to:
		return windowDuring
	case lo >= to:
		return windowAfter
	}
	return windowNone
}

// impactOf summarises a load result with its windows w around the
// rebalance [from, to] (offsets from the load's start; the per-second
// figures use them). Pure.
func impactOf(res load.Result, w windows, from, to time.Duration) impact {
	var before, during, after []load.Second
	for _, s := range res.Seconds {
		switch secondWindow(s.Second, from, to) {
		case windowBefore:
			before = append(before, s)
		case windowDuring:
			during = append(during, s)
		case windowAfter:
			if s.Latency.Count > 0 { // the last second may be cut short by the stop
				after = append(after, s)
			}
		}
	}
	im := impact{
		BeforeP99MS: ms(w.Before.P99), AfterP99MS: ms(w.After.P99), DuringP99MS: ms(w.During.P99),
		DuringMaxMS: ms(w.During.Max),
		Ops:         res.Ops, WritesAcked: res.WritesAcked, Moved: res.Moved, Ask: res.Ask,
		Lost: res.Verify.Lost, Stale: res.Verify.Stale + res.Verify.Foreign, Unverified: res.Verify.Unverified,
	}
	if ref := ms(w.Around.P99); ref > 0 && im.DuringP99MS > 0 {
		im.Ratio = im.DuringP99MS / ref
	}
	if ref := ms(w.AroundShort.P99); ref > 0 && im.DuringP99MS > 0 {
		im.ShortRatio = im.DuringP99MS / ref
	}
	if ref, d := ms(w.AroundDirect.P99), ms(w.DuringDirect.P99); ref > 0 && d > 0 {
		im.DirectRatio = d / ref
	}
	im.Redirected = w.During.Count - w.DuringDirect.Count
	if ref, d := secondsP99(slices.Concat(before, after)), secondsP99(during); ref > 0 && d > 0 {
		im.SecondsRatio = d / ref
	}
	if len(res.Errors) > 0 {
		im.Errors = map[string]int64{}
		for k, v := range res.Errors {
			im.Errors[string(k)] += v
		}
	}
	return im
}

// secondsP99 is the mean of secs' p99 weighted by their operations, ms:
// the window p99 of earlier rounds, kept beside the exact one (see
// impact.SecondsRatio).
func secondsP99(secs []load.Second) float64 {
	var sum float64
	var n int64
	for _, s := range secs {
		sum += ms(s.Latency.P99) * float64(s.Latency.Count)
		n += s.Latency.Count
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// impactSummary is the median of a mode's runs as the table prints it.
type impactSummary struct {
	BeforeP99MS float64 `json:"p99_before_ms"`
	AfterP99MS  float64 `json:"p99_after_ms"`
	DuringP99MS float64 `json:"p99_during_ms"`
	Ratio       float64 `json:"p99_ratio"`
	// ShortRatio, DirectRatio and Redirected are the medians of the runs'
	// impact fields of those names.
	ShortRatio  float64 `json:"p99_ratio_short_reference"`
	DirectRatio float64 `json:"p99_ratio_direct"`
	Redirected  float64 `json:"redirected_during"`
	// SecondsRatio is the median of the runs' impact.SecondsRatio.
	SecondsRatio float64          `json:"p99_seconds_ratio"`
	DuringMaxMS  float64          `json:"max_during_ms"`
	Errors       map[string]int64 `json:"errors,omitempty"` // summed over the runs
	Lost         int              `json:"lost"`             // summed over the runs
	Stale        int              `json:"stale"`            // summed over the runs
	// Steal is the median of the runs' steal per window; nil when no run
	// read any.
	Steal *stealWindows `json:"steal_ms_per_s,omitempty"`
	// CalmRatio is the median of the runs' impact.CalmRatio; 0 when none
	// read one.
	CalmRatio float64 `json:"p99_calm_seconds_ratio,omitempty"`
}

// summariseImpact returns the medians (and sums of errors, lost and
// stale) of the runs that measured impact; nil when none did.
func summariseImpact(runs []timedRun) *impactSummary {
	var before, after, during, ratio, shortRatio, directRatio, redirected, secRatio, mx []float64
	var stealB, stealD, stealA, calm []float64
	s := &impactSummary{}
	for _, r := range runs {
		im := r.Impact
		if im == nil {
			continue
		}
		before, after, during, mx = append(before, im.BeforeP99MS), append(after, im.AfterP99MS), append(during, im.DuringP99MS), append(mx, im.DuringMaxMS)
		if im.Ratio > 0 {
			ratio = append(ratio, im.Ratio)
		}
		if im.ShortRatio > 0 {
			shortRatio = append(shortRatio, im.ShortRatio)
		}
		if im.DirectRatio > 0 {
			directRatio, redirected = append(directRatio, im.DirectRatio), append(redirected, float64(im.Redirected))
		}
		if im.SecondsRatio > 0 {
			secRatio = append(secRatio, im.SecondsRatio)
		}
		for k, v := range im.Errors {
			if s.Errors == nil {
				s.Errors = map[string]int64{}
			}
			s.Errors[k] += v
		}
		s.Lost += im.Lost
		s.Stale += im.Stale
		if im.CalmRatio > 0 {
			calm = append(calm, im.CalmRatio)
		}
		if st := im.Steal; st != nil {
			stealB, stealD, stealA = append(stealB, st.Before), append(stealD, st.During), append(stealA, st.After)
		}
	}
	if len(before) == 0 {
		return nil
	}
	s.BeforeP99MS, s.AfterP99MS, s.DuringP99MS = median(before), median(after), median(during)
	s.Ratio, s.SecondsRatio, s.DuringMaxMS = median(ratio), median(secRatio), median(mx)
	s.CalmRatio, s.ShortRatio = median(calm), median(shortRatio)
	s.DirectRatio, s.Redirected = median(directRatio), median(redirected)
	if len(stealD) > 0 {
		s.Steal = &stealWindows{Before: median(stealB), During: median(stealD), After: median(stealA)}
	}
	return s
}

// errorsText renders errors by kind as "timeout=3 tryagain=1", "0" when
// none.
func errorsText(errs map[string]int64) string {
	if len(errs) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s=%d", strings.ReplaceAll(k, " ", "_"), errs[k]))
	}
	return strings.Join(parts, " ")
}
