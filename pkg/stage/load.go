package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/slotshift/slotshift/pkg/load"
	"github.com/slotshift/slotshift/pkg/report"
)

// Check ids of the load stage.
const (
	IDLoadOps     = "load.ops"
	IDLoadLost    = "load.lost"
	IDLoadStale   = "load.stale"
	IDLoadErrors  = "load.errors"
	IDLoadCleanup = "load.cleanup"
)

// LoadInput configures the load stage.
type LoadInput struct {
	// Options are the load settings; the seeds (every inventory node) and
	// the credentials (the secrets) are filled in by the stage.
	Options load.Options
}

// statusEvery is how often the load stage prints its status line.
const statusEvery = 5

// Load runs client load against the inventory's cluster for the given
// duration (or until ctx ends), then reads every acknowledged write back.
// Lost or stale keys fail the stage; errors other than followed redirects
// warn. When ctx ends early (a signal) the read-back still runs on a fresh,
// short context and the result is returned with ctx's cause as the error.
func Load(ctx context.Context, env Env, in LoadInput) (Result, error) {
	inv := env.Inventory
	if inv == nil {
		return Result{}, Usagef("load: no inventory")
	}
	o := in.Options
	o.Seeds = nil
	for _, n := range inv.Nodes() {
		o.Seeds = append(o.Seeds, n.Addr())
	}
	o.Username, o.Password, o.TLS = env.Secrets.Username, env.Secrets.Password, env.Secrets.TLS
	o.OnSecond = loadStatus(env.Status, o.Duration)
	g, err := load.New(o)
	if err != nil {
		return Result{}, &UsageError{Err: err, Hint: "see 'slotshift load --help' for the settings"}
	}
	g.Start(ctx)
	<-g.Done()
	lr, err := g.Stop()
	var res Result
	if err != nil && !errors.Is(err, load.ErrCleanup) {
		return res, err
	}
	res.Load = loadSection(lr)
	res.Add(loadChecks(lr)...)
	if err != nil {
		res.Add(report.Check{ID: IDLoadCleanup, Status: report.Warn, Message: err.Error(),
			Hint: fmt.Sprintf("delete the keys %s* by hand", o.Prefix)})
	}
	res.Outputs = map[string]string{
		"ops":    strconv.FormatInt(lr.Ops, 10),
		"lost":   strconv.Itoa(lr.Verify.Lost),
		"stale":  strconv.Itoa(lr.Verify.Stale + lr.Verify.Foreign),
		"errors": strconv.FormatInt(lr.ErrorCount(), 10),
	}
	res.Summary = append(res.Summary, fmt.Sprintf("%d ops in %.1fs (%.0f ops/s), %d acknowledged keys read back: %d lost, %d stale",
		lr.Ops, lr.Elapsed.Seconds(), opsPerSecond(lr), lr.Verify.Keys, lr.Verify.Lost, lr.Verify.Stale+lr.Verify.Foreign))
	if ctx.Err() != nil {
		return res, fmt.Errorf("load stopped after %.1fs: %w", lr.Elapsed.Seconds(), context.Cause(ctx))
	}
	return res, nil
}

// loadStatus returns the status-line printer for each closed second, or
// nil when there is nowhere to print.
func loadStatus(w io.Writer, total time.Duration) func(load.Second) {
	if w == nil {
		return nil
	}
	var mu sync.Mutex
	return func(s load.Second) {
		if (s.Second+1)%statusEvery != 0 {
			return
		}
		var errs int64
		for _, n := range s.Errors {
			errs += n
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "load %ds/%s · %d ops/s · p99 %s · errors %d\n",
			s.Second+1, total, s.Ops, s.Latency.P99.Round(10*time.Microsecond), errs)
	}
}

func opsPerSecond(r load.Result) float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// loadChecks turns a load result into the stage's verdicts.
func loadChecks(r load.Result) []report.Check {
	v := r.Verify
	var out []report.Check
	ops := report.Check{ID: IDLoadOps, Status: report.Pass, Observed: r.Ops, Unit: "ops",
		Message: fmt.Sprintf("%d operations (%d reads, %d writes, %d acknowledged) in %.1fs, p99 %s", r.Ops, r.Reads, r.Writes, r.WritesAcked, r.Elapsed.Seconds(), r.Latency.P99)}
	if r.Ops-r.ErrorCount() <= 0 {
		ops.Status, ops.Message = report.Fail, fmt.Sprintf("no operation succeeded (%d attempted)", r.Ops)
		ops.Hint = "check that the cluster is up and that the password is right"
	}
	out = append(out, ops)

	lost := report.Check{ID: IDLoadLost, Status: report.Pass, Observed: v.Lost, Threshold: 0, Unit: "keys",
		Message: fmt.Sprintf("all %d acknowledged keys read back", v.Keys)}
	switch {
	case v.Lost > 0 || v.ReadsMissing > 0:
		lost.Status = report.Fail
		lost.Message = fmt.Sprintf("%d of %d acknowledged keys missing at the read-back (e.g. %v); %d reads during the run found an acknowledged key missing",
			v.Lost, v.Keys, v.LostKeys, v.ReadsMissing)
	case v.Unverified > 0:
		lost.Status = report.Error
		lost.Message = fmt.Sprintf("%d of %d acknowledged keys could not be read back", v.Unverified, v.Keys)
	}
	if v.Unknown > 0 {
		lost.Message += fmt.Sprintf("; %d keys' last write had an unknown outcome (%d hold its value)", v.Unknown, v.UnknownApplied)
	}
	out = append(out, lost)

	stale := report.Check{ID: IDLoadStale, Status: report.Pass, Observed: v.Stale + v.Foreign, Threshold: 0, Unit: "keys",
		Message: "every key holds its last acknowledged value (or that of a later write with an unknown outcome)"}
	if v.Stale+v.Foreign > 0 || v.ReadsStale > 0 {
		stale.Status = report.Fail
		stale.Message = fmt.Sprintf("%d keys hold an older value than the last acknowledged, %d a value no write produced (e.g. %v); %d reads during the run saw such values",
			v.Stale, v.Foreign, v.StaleKeys, v.ReadsStale)
	}
	out = append(out, stale)

	n := r.ErrorCount()
	errs := report.Check{ID: IDLoadErrors, Status: report.Pass, Observed: n, Threshold: 0, Unit: "ops",
		Message: fmt.Sprintf("no errors; %d MOVED and %d ASK redirects followed", r.Moved, r.Ask)}
	if n > 0 {
		errs.Status = report.Warn
		errs.Message = fmt.Sprintf("%d of %d operations failed: %s; %d writes with an unknown outcome", n, r.Ops, kindList(r.Errors), r.WritesUnknown)
	}
	return append(out, errs)
}

// kindList renders errors by kind in a stable order, e.g. "timeout 3, tryagain 1".
func kindList(m map[load.Kind]int64) string {
	s := ""
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", k, m[k])
	}
	return s
}

// loadSection is the report form of a load result.
func loadSection(r load.Result) *report.LoadSection {
	o := r.Options
	v := r.Verify
	sec := &report.LoadSection{
		Settings: report.LoadSettings{Rate: o.Rate, Clients: o.Clients, Keys: o.Keys, Prefix: o.Prefix,
			ValueMin: o.ValueMin, ValueMax: o.ValueMax, ReadPercent: o.ReadPercent},
		Duration: report.SecondsOf(r.Elapsed), Ops: r.Ops, OpsPerSecond: math.Round(opsPerSecond(r)*10) / 10,
		Reads: r.Reads, Writes: r.Writes, WritesAcked: r.WritesAcked, WritesUnknown: r.WritesUnknown,
		Moved: r.Moved, Ask: r.Ask, Errors: kinds(r.Errors), Latency: latencyMS(r.Latency),
		Verify: report.LoadVerify{Keys: v.Keys, Lost: v.Lost, Stale: v.Stale, Foreign: v.Foreign, Unknown: v.Unknown,
			UnknownApplied: v.UnknownApplied, Unverified: v.Unverified, ReadsMissing: v.ReadsMissing, ReadsStale: v.ReadsStale,
			LostKeys: v.LostKeys, StaleKeys: v.StaleKeys, Duration: report.SecondsOf(v.Elapsed)},
		Seconds: make([]report.LoadSecond, len(r.Seconds)),
	}
	for i, s := range r.Seconds {
		l := latencyMS(s.Latency)
		sec.Seconds[i] = report.LoadSecond{Second: s.Second, Ops: s.Ops, P50: l.P50, P99: l.P99, Max: l.Max}
		if len(s.Errors) > 0 {
			sec.Seconds[i].Errors = kinds(s.Errors)
		}
	}
	return sec
}

func kinds(m map[load.Kind]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, n := range m {
		out[string(k)] = n
	}
	return out
}

// latencyMS converts to milliseconds with microsecond precision.
func latencyMS(l load.Latency) report.LoadLatency {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return report.LoadLatency{Count: l.Count, P50: ms(l.P50), P99: ms(l.P99), Max: ms(l.Max)}
}
