package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/atomicfile"
)

// Goals the table prints next to the measurements (from the issue).
const (
	goalVsCLI     = 10.0 // redis-cli defaults / slotshift
	minimumVsCLI  = 5.0
	goalVsCLI1000 = 5.0 // redis-cli --cluster-pipeline 1000 / slotshift
	goalPeakRSSMB = 100.0
	goalPlanMS    = 50.0
	// goalP99Ratio bounds the seed profile's client p99 during a
	// rebalance over the p99 before it.
	goalP99Ratio     = 1.10
	planIterations   = 20
	planMastersTotal = 1000
)

// results is everything one benchmark run measured; -json writes it.
type results struct {
	StartedAt     time.Time    `json:"started_at"`
	Machine       machine      `json:"machine"`
	Keys          int          `json:"keys"`
	Runs          int          `json:"runs"`
	NodeTimeoutMS int          `json:"node_timeout_ms"`
	Replicas      bool         `json:"replicas"` // each loaded master had a replica
	Modes         []modeResult `json:"modes"`
	// SeedGates is the gates block of the seed mode's inventory ("" =
	// the default gates).
	SeedGates string `json:"seed_gates,omitempty"`
	// SeedHold is the seed mode's variation hold, percent: the seed's 10
	// unless -seed-hold gave another (0: not recorded, or no variation
	// gate).
	SeedHold float64      `json:"seed_hold_percent,omitempty"`
	Floor    *floorResult `json:"floor,omitempty"`
	Ratios   ratios       `json:"ratios"`
	// SlotshiftPeakRSSMB is the largest ru_maxrss of any slotshift run, MiB.
	SlotshiftPeakRSSMB float64      `json:"slotshift_peak_rss_mb,omitempty"`
	Plan               []planResult `json:"plan,omitempty"`
	// Scale is the at-scale run (-scale); nil when not run.
	Scale *scaleResult `json:"scale,omitempty"`
	// Warnings are oddities that do not invalidate a run (e.g. slotshift's
	// report counting a different number of keys than DBSIZE shows).
	Warnings []string `json:"warnings,omitempty"`
	// Failure says why the benchmark stopped early; "" when it finished.
	Failure string `json:"failure,omitempty"`
}

// modeResult is every run of one mode.
type modeResult struct {
	Mode            string     `json:"mode"`
	Label           string     `json:"label"`
	Runs            []timedRun `json:"runs"`
	MedianS         float64    `json:"median_s"`
	MedianKeysMoved int64      `json:"median_keys_moved"`
	KeysPerS        float64    `json:"keys_per_s"`
	// Impact summarises the client load's view; nil without load.
	Impact *impactSummary `json:"impact,omitempty"`
	// Failed are the runs that did not finish or left a wrong cluster.
	// They are not in the medians, but what their load saw still counts:
	// a write lost in a failed run is lost.
	Failed []failedRun `json:"failed,omitempty"`
}

// failedRun is a run that failed, with why and what the load saw.
type failedRun struct {
	Round   int     `json:"round"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error"`
	Impact  *impact `json:"impact,omitempty"`
}

// floorResult is the redis-cli --pipe floor.
type floorResult struct {
	Keys     int       `json:"keys"`
	RunsS    []float64 `json:"runs_s"`
	MedianS  float64   `json:"median_s"`
	KeysPerS float64   `json:"keys_per_s"`
}

// ratios compare median times; nil when a side was not measured.
type ratios struct {
	CLIOverSlotshift     *float64 `json:"redis_cli_over_slotshift,omitempty"`
	CLI1000OverSlotshift *float64 `json:"redis_cli_p1000_over_slotshift,omitempty"`
	SlotshiftOverFloor   *float64 `json:"slotshift_over_floor,omitempty"`
	// CLIOverBare is the most any MIGRATE-based mover can show against
	// redis-cli on this machine; SlotshiftOverBare what slotshift's batches,
	// size checks and gates cost on top of bare MIGRATE.
	CLIOverBare       *float64 `json:"redis_cli_over_bare,omitempty"`
	SlotshiftOverBare *float64 `json:"slotshift_over_bare,omitempty"`
}

// machine describes where the benchmark ran.
type machine struct {
	CPUs        int    `json:"cpus"`
	CPUModel    string `json:"cpu_model,omitempty"`
	MemoryGiB   int    `json:"memory_gib,omitempty"`
	Kernel      string `json:"kernel,omitempty"`
	Go          string `json:"go"`
	RedisServer string `json:"redis_server"`
	RedisCLI    string `json:"redis_cli"`
	Slotshift   string `json:"slotshift,omitempty"`
	// LoadAvgStart and LoadAvgEnd are /proc/loadavg's 1-minute load when the
	// benchmark started and ended: other work on the machine skews timings.
	LoadAvgStart float64 `json:"load_avg_start"`
	LoadAvgEnd   float64 `json:"load_avg_end"`
	// StealS is the host's steal over the benchmark, CPU seconds summed
	// over the CPUs (see steal.go), and WallS the benchmark's wall time it
	// was read over; both 0 where the machine shows no steal.
	StealS float64 `json:"steal_s,omitempty"`
	WallS  float64 `json:"wall_s,omitempty"`
	// stealAt is the steal when the facts were gathered; stealOK whether
	// it was read.
	stealAt time.Duration
	stealOK bool
}

// stealWarnShare is the share of the CPUs' time stolen over the benchmark
// from which the header warns.
const stealWarnShare = 0.01

// endSteal reads the steal since machineFacts, over wall.
func (m *machine) endSteal(wall time.Duration) {
	if cur, ok := readSteal(); ok && m.stealOK {
		m.StealS, m.WallS = (cur - m.stealAt).Seconds(), wall.Seconds()
	}
}

// loadAvg returns the 1-minute load average, 0 when unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var v float64
	if _, err := fmt.Sscanf(string(b), "%f", &v); err != nil {
		return 0
	}
	return v
}

// median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarise fills the medians, keys/s, ratios and peak RSS from the runs.
func (r *results) summarise() {
	for i := range r.Modes {
		m := &r.Modes[i]
		var secs, keys []float64
		for _, run := range m.Runs {
			secs = append(secs, run.Seconds)
			keys = append(keys, float64(run.KeysMoved))
		}
		m.MedianS = median(secs)
		m.MedianKeysMoved = int64(median(keys))
		if m.MedianS > 0 {
			m.KeysPerS = float64(m.MedianKeysMoved) / m.MedianS
		}
		m.Impact = summariseImpact(m.Runs)
	}
	if r.Floor != nil {
		r.Floor.MedianS = median(r.Floor.RunsS)
		if r.Floor.MedianS > 0 {
			r.Floor.KeysPerS = float64(r.Floor.Keys) / r.Floor.MedianS
		}
	}
	ss := r.mode(modeSlotshift)
	ratio := func(num, den float64) *float64 {
		if num <= 0 || den <= 0 {
			return nil
		}
		v := num / den
		return &v
	}
	r.Ratios = ratios{}
	if bare := r.mode(modeBare); bare != nil {
		if m := r.mode(modeCLI); m != nil {
			r.Ratios.CLIOverBare = ratio(m.MedianS, bare.MedianS)
		}
		if ss != nil {
			r.Ratios.SlotshiftOverBare = ratio(ss.MedianS, bare.MedianS)
		}
	}
	if ss != nil {
		if m := r.mode(modeCLI); m != nil {
			r.Ratios.CLIOverSlotshift = ratio(m.MedianS, ss.MedianS)
		}
		if m := r.mode(modeCLI1000); m != nil {
			r.Ratios.CLI1000OverSlotshift = ratio(m.MedianS, ss.MedianS)
		}
		if r.Floor != nil {
			r.Ratios.SlotshiftOverFloor = ratio(ss.MedianS, r.Floor.MedianS)
		}
		var peak int64
		for _, run := range ss.Runs {
			peak = max(peak, run.MaxRSSKB)
		}
		r.SlotshiftPeakRSSMB = float64(peak) / 1024
	}
}

// failedRuns counts the runs that failed, over every mode.
func (r *results) failedRuns() int {
	n := 0
	for _, m := range r.Modes {
		n += len(m.Failed)
	}
	return n
}

// printFailed writes one line per failed run, with what its load saw.
func (r *results) printFailed(w io.Writer) {
	for _, m := range r.Modes {
		for _, f := range m.Failed {
			load := ""
			if im := f.Impact; im != nil {
				load = fmt.Sprintf(" (load: p99 %s ms before, %s ms during, %s ms after, lost/stale %d/%d)", msText(im.BeforeP99MS), msText(im.DuringP99MS), msText(im.AfterP99MS), im.Lost, im.Stale)
			}
			fmt.Fprintf(w, "failed run: round %d, %s after %.1f s%s: %s\n", f.Round, m.Label, f.Seconds, load, f.Error)
		}
	}
}

// mode returns the results of mode, nil when it has no run.
func (r *results) mode(name string) *modeResult {
	for i := range r.Modes {
		if r.Modes[i].Mode == name && len(r.Modes[i].Runs) > 0 {
			return &r.Modes[i]
		}
	}
	return nil
}

// keysPerS renders a rate as 950, 17.6k or 1.25M.
func keysPerS(v float64) string {
	switch {
	case v <= 0:
		return "-"
	case v < 1000:
		return fmt.Sprintf("%.0f", v)
	case v < 1e6:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.2fM", v/1e6)
	}
}

func secondsList(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, " ")
}

// verdict says whether v meets a goal (higher is better when higher).
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// boundedRatio is v with prec decimals, or with as many more (up to
// four) as it takes for the text to sit on the same side of each bound as
// v does: a median of 4.97 printed as "5.0" beside "minimum 5x  MISSED"
// reads as a contradiction.
func boundedRatio(v float64, prec int, bounds ...float64) string {
	for ; ; prec++ {
		s := strconv.FormatFloat(v, 'f', prec, 64)
		shown, _ := strconv.ParseFloat(s, 64)
		same := true
		for _, b := range bounds {
			same = same && cmp.Compare(v, b) == cmp.Compare(shown, b)
		}
		if same || prec >= 4 {
			return s
		}
	}
}

// print writes the fixed-format report: machine facts, the table, ratios
// with their goals, slotshift's peak RSS and the planner benchmark.
func (r *results) print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "\nslotshift rebalance benchmark, %s\n", r.StartedAt.Format(time.RFC3339))
	fmt.Fprintf(w, "machine: %d CPUs (%s), %d GiB RAM, linux %s, %s\n", m.CPUs, m.CPUModel, m.MemoryGiB, m.Kernel, m.Go)
	fmt.Fprintf(w, "load:    1-min load average %.1f at start, %.1f at end\n", m.LoadAvgStart, m.LoadAvgEnd)
	if max(m.LoadAvgStart, m.LoadAvgEnd) > float64(m.CPUs) {
		fmt.Fprintf(w, "         WARNING: more runnable work than CPUs; other processes skew these timings\n")
	}
	if m.WallS > 0 && m.CPUs > 0 {
		share := m.StealS / (m.WallS * float64(m.CPUs))
		fmt.Fprintf(w, "steal:   the host took %.1f s of CPU time over the benchmark's %.0f s (%.2f%% of its CPUs' time)\n", m.StealS, m.WallS, 100*share)
		if share >= stealWarnShare {
			fmt.Fprintf(w, "         WARNING: the host stalls this machine at times; a stall slows nodes and client alike\n")
		}
	}
	fmt.Fprintf(w, "redis:   %s | %s\n", m.RedisServer, m.RedisCLI)
	if m.Slotshift != "" {
		fmt.Fprintf(w, "slotshift: %s\n", m.Slotshift)
	}
	replicas := "no replicas"
	if r.Replicas {
		replicas = "a replica per loaded master"
	}
	fmt.Fprintf(w, "cluster: 3 masters (0-5460, 5461-10922, 10923-16383) + 1 empty converged master, %s,\n", replicas)
	fmt.Fprintf(w, "         %d keys of %d-%d byte values, persistence off, cluster-node-timeout %d ms\n", r.Keys, minValueSize, maxValueSize, r.NodeTimeoutMS)
	fmt.Fprintf(w, "         (short, so that fresh clusters converge fast; it does not slow or speed a migration)\n")
	fmt.Fprintf(w, "runs:    %d per mode, alternating by mode, each on a fresh identical cluster; wall time of the whole command\n", r.Runs)
	if r.SeedGates != "" {
		fmt.Fprintf(w, "seed:    %s\n", strings.Join(strings.Fields(r.SeedGates), " "))
	}
	fmt.Fprintln(w)

	r.printTable(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ratios (median time / median time):")
	if v := r.Ratios.CLIOverSlotshift; v != nil {
		s := "met"
		switch {
		case *v < minimumVsCLI:
			s = "MISSED (below the minimum)"
		case *v < goalVsCLI:
			s = "below goal, above minimum"
		}
		fmt.Fprintf(w, "  redis-cli / slotshift       = %6sx  (goal >= %.0fx, minimum %.0fx)  %s\n", boundedRatio(*v, 1, goalVsCLI, minimumVsCLI), goalVsCLI, minimumVsCLI, s)
	} else {
		fmt.Fprintln(w, "  redis-cli / slotshift       = n/a (needs modes cli and slotshift)")
	}
	if v := r.Ratios.CLI1000OverSlotshift; v != nil {
		fmt.Fprintf(w, "  redis-cli p1000 / slotshift = %6sx  (goal >= %.0fx)  %s\n", boundedRatio(*v, 1, goalVsCLI1000), goalVsCLI1000, verdict(*v >= goalVsCLI1000))
	} else {
		fmt.Fprintln(w, "  redis-cli p1000 / slotshift = n/a (needs modes cli1000 and slotshift)")
	}
	if v := r.Ratios.SlotshiftOverFloor; v != nil {
		fmt.Fprintf(w, "  slotshift / floor           = %6.1fx  (1x = as fast as SETting the moved keys into an empty node with --pipe)\n", *v)
	} else {
		fmt.Fprintln(w, "  slotshift / floor           = n/a (needs mode slotshift)")
	}
	if v := r.Ratios.CLIOverBare; v != nil {
		fmt.Fprintf(w, "  redis-cli / bare MIGRATE    = %6.1fx  (the most any MIGRATE-based mover can reach on this machine)\n", *v)
	}
	if v := r.Ratios.SlotshiftOverBare; v != nil {
		fmt.Fprintf(w, "  slotshift / bare MIGRATE    = %6.1fx  (what sizes, batches, gates and gentle pipelines cost)\n", *v)
	}
	if ss := r.mode(modeSlotshift); ss != nil {
		var bs []float64
		for _, run := range ss.Runs {
			bs = append(bs, run.BatchSeconds)
		}
		fmt.Fprintf(w, "slotshift moving slots (first batch start to last batch end): %.2f s median of %.2f s; the rest is start-up,\n", median(bs), ss.MedianS)
		fmt.Fprintf(w, "  waiting for the first gate readings and gate holds (-keep DIR keeps its reports)\n")
		fmt.Fprintf(w, "slotshift peak RSS: %.0f MB (goal < %.0f MB)  %s\n", r.SlotshiftPeakRSSMB, goalPeakRSSMB, verdict(r.SlotshiftPeakRSSMB < goalPeakRSSMB))
	}
	r.printImpact(w)
	for _, p := range r.Plan {
		fmt.Fprintf(w, "plan %d masters (%s): %.1f ms median of %d, %d slots in %d batches (goal < %.0f ms)  %s\n",
			p.Masters, p.Scenario, p.MedianMS, p.Iterations, p.SlotsMoved, p.Batches, goalPlanMS, verdict(p.MedianMS < goalPlanMS))
	}
	if r.Scale != nil {
		r.Scale.print(w)
	}
	r.printFailed(w)
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	switch {
	case strings.HasPrefix(r.Failure, "interrupted"):
		fmt.Fprintf(w, "\nINTERRUPTED: partial results only; %s\n", strings.TrimPrefix(r.Failure, "interrupted "))
	case r.Failure != "":
		fmt.Fprintf(w, "\nFAILED: %s\n", r.Failure)
	}
}

// printTable writes one row per mode (medians of its runs) and the floor:
// speed, then what the client load saw during the rebalance.
func (r *results) printTable(w io.Writer) {
	rows := [][]string{{"mode", "median_s", "runs_s", "keys_moved", "keys/s", "p99_before", "p99_after", "p99_during", "ratio", "max_during", "errors", "lost/stale", "holds"}}
	for _, mr := range r.Modes {
		if len(mr.Runs) == 0 {
			continue
		}
		var secs []float64
		holds := "-"
		if mr.Mode == modeSlotshift || mr.Mode == modeSeed {
			var hs []string
			for _, run := range mr.Runs {
				hs = append(hs, strconv.Itoa(run.Holds))
			}
			holds = strings.Join(hs, " ")
		}
		for _, run := range mr.Runs {
			secs = append(secs, run.Seconds)
		}
		row := []string{mr.Label, fmt.Sprintf("%.2f", mr.MedianS), secondsList(secs), strconv.FormatInt(mr.MedianKeysMoved, 10), keysPerS(mr.KeysPerS)}
		if im := mr.Impact; im != nil {
			row = append(row, msText(im.BeforeP99MS), msText(im.AfterP99MS), msText(im.DuringP99MS), ratioText(im.Ratio), msText(im.DuringMaxMS),
				errorsText(im.Errors), fmt.Sprintf("%d/%d", im.Lost, im.Stale), holds)
		} else {
			row = append(row, "-", "-", "-", "-", "-", "-", "-", holds)
		}
		rows = append(rows, row)
	}
	if f := r.Floor; f != nil && len(f.RunsS) > 0 {
		rows = append(rows, []string{"floor (--pipe)", fmt.Sprintf("%.2f", f.MedianS), secondsList(f.RunsS), strconv.Itoa(f.Keys), keysPerS(f.KeysPerS)})
	}
	widths := make([]int, len(rows[0]))
	for _, rw := range rows {
		for i, cell := range rw {
			widths[i] = max(widths[i], len(cell))
		}
	}
	// Names, runs and errors left-aligned, numbers right-aligned.
	for _, rw := range rows {
		var b strings.Builder
		for i, cell := range rw {
			if i > 0 {
				b.WriteString("  ")
			}
			if i == 0 || i == 2 || i == 10 {
				fmt.Fprintf(&b, "%-*s", widths[i], cell)
			} else {
				fmt.Fprintf(&b, "%*s", widths[i], cell)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	if r.hasImpact() {
		fmt.Fprintf(w, "(client load: %d clients, %d ops/s, %d%% GET / %d%% SET on %d keys %q*, from the benchmark's process;\n", loadClients, loadRate, loadReadPercent, 100-loadReadPercent, loadKeys, loadPrefix)
		fmt.Fprintf(w, " p99 in ms: before = the %.0f s before the rebalance less %d s warm-up, after = as long after it as it took, %.0f-%.0f s,\n", loadBaseline.Seconds(), loadWarmup, loadAfter.Seconds(), loadAfterMax.Seconds())
		fmt.Fprintf(w, " during = start to end of the command, each the p99 of all the window's operations;\n")
		fmt.Fprintf(w, " ratio = during / before and after together; lost/stale = acknowledged writes, read back after the run)\n")
	}
}

// otherRatiosText is im's other ratios, for comparison: to the short
// reference when the after window outgrew it, without the redirected
// operations when there were any, the per-second one of earlier rounds,
// and the calm seconds'; "" without any.
func otherRatiosText(im *impactSummary) string {
	var parts []string
	if im.ShortRatio > 0 && math.Abs(im.ShortRatio-im.Ratio) >= 0.005 {
		parts = append(parts, fmt.Sprintf("to the %.0f s before and %.0f s after: %.2fx", (loadBaseline-loadWarmup*time.Second).Seconds(), loadAfter.Seconds(), im.ShortRatio))
	}
	if im.DirectRatio > 0 && im.Redirected > 0 {
		parts = append(parts, fmt.Sprintf("without the %.0f operations during that followed MOVED or ASK: %.2fx", im.Redirected, im.DirectRatio))
	}
	if im.SecondsRatio > 0 {
		parts = append(parts, fmt.Sprintf("mean of per-second p99s, as reported before: %.2fx", im.SecondsRatio))
	}
	if im.CalmRatio > 0 {
		parts = append(parts, fmt.Sprintf("over the seconds without host steal: %.2fx", im.CalmRatio))
	}
	if len(parts) == 0 {
		return ""
	}
	return "  (" + strings.Join(parts, "; ") + ")"
}

func (r *results) hasImpact() bool {
	for _, m := range r.Modes {
		if m.Impact != nil {
			return true
		}
	}
	return false
}

func msText(v float64) string { return fmt.Sprintf("%.2f", v) }

func ratioText(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
}

// printWatch writes what slotshift's gate probes alone cost the client
// (mode watch), beside their rate and CPU; nothing without that mode.
func (r *results) printWatch(w io.Writer) {
	wm := r.mode(modeWatch)
	if wm == nil || wm.Impact == nil || wm.Impact.Ratio <= 0 {
		return
	}
	var rates, cpu []float64
	for _, run := range wm.Runs {
		if run.Seconds > 0 {
			rates = append(rates, run.PingsPerMasterS)
			cpu = append(cpu, 100*run.CPUSeconds/run.Seconds)
		}
	}
	fmt.Fprintf(w, "  slotshift's gate probes alone (watch, %.0f s): p99 during/around = %.2fx%s\n",
		wm.MedianS, wm.Impact.Ratio, otherRatiosText(wm.Impact))
	fmt.Fprintf(w, "    %.0f PINGs/s to each master, the monitor's CPU %.1f%% of a core (medians): what watching costs a client, apart from moving\n",
		median(rates), median(cpu))
}

// printImpact writes the impact goals: the seed profile's p99 ratio, the
// comparison with redis-cli, the fast profile's speed, holds and lost
// writes.
func (r *results) printImpact(w io.Writer) {
	if !r.hasImpact() {
		return
	}
	fmt.Fprintln(w, "impact (client p99 during / before and after, medians of the runs):")
	seed, cli, fast := r.mode(modeSeed), r.mode(modeCLI), r.mode(modeSlotshift)
	ratioLine := func(name string, m *modeResult, goal bool) {
		switch {
		case m == nil || m.Impact == nil || m.Impact.Ratio <= 0:
			fmt.Fprintf(w, "  %s: p99 during/around = n/a\n", name)
		case goal && r.SeedHold != 0 && r.SeedHold != seedHoldPercent:
			fmt.Fprintf(w, "  %s: p99 during/around = %.2fx (its hold is %g%%, not the seed's %d%%: the goal of <= %.2fx is not judged)%s\n",
				name, m.Impact.Ratio, r.SeedHold, seedHoldPercent, goalP99Ratio, otherRatiosText(m.Impact))
		case goal:
			fmt.Fprintf(w, "  %s: p99 during/around = %sx (goal <= %.2fx)  %s%s\n", name, boundedRatio(m.Impact.Ratio, 2, goalP99Ratio), goalP99Ratio, verdict(m.Impact.Ratio <= goalP99Ratio), otherRatiosText(m.Impact))
		default:
			fmt.Fprintf(w, "  %s: p99 during/around = %.2fx%s\n", name, m.Impact.Ratio, otherRatiosText(m.Impact))
		}
	}
	ratioLine("slotshift seed", seed, true)
	ratioLine("slotshift fast", fast, false)
	ratioLine("redis-cli", cli, false)
	if idle := r.mode(modeIdle); idle != nil && idle.Impact != nil && idle.Impact.Ratio > 0 {
		var rs []float64
		for _, run := range idle.Runs {
			if run.Impact != nil && run.Impact.Ratio > 0 {
				rs = append(rs, run.Impact.Ratio)
			}
		}
		fmt.Fprintf(w, "  nothing running (idle, %.0f s): p99 during/around = %.2fx (runs %.2fx to %.2fx), the measurement's own spread here:\n",
			idle.MedianS, idle.Impact.Ratio, slices.Min(rs), slices.Max(rs))
		fmt.Fprintf(w, "    a ratio within it is no difference")
		if idle.Impact.Ratio > goalP99Ratio {
			fmt.Fprintf(w, "; it is above the seed's goal of %.2fx, so here that goal is inside the noise", goalP99Ratio)
		}
		fmt.Fprintln(w)
		if idle.Impact.CalmRatio > 0 {
			fmt.Fprintf(w, "    over the seconds without host steal it read %.2fx (mean of per-second p99s)\n", idle.Impact.CalmRatio)
		}
		if seed != nil && seed.MedianS > 4*idle.MedianS {
			fmt.Fprintf(w, "    it ran %.0f s and the seed profile %.0f s: a longer window holds more of the machine's rare slow seconds\n"+
				"    (-modes idle -idle %.0fs measures the spread at the seed's length)\n", idle.MedianS, seed.MedianS, seed.MedianS)
		}
	}
	r.printWatch(w)
	r.printSteal(w)
	if seed != nil && cli != nil && seed.Impact != nil && cli.Impact != nil {
		better := seed.Impact.Ratio > 0 && seed.Impact.Ratio < cli.Impact.Ratio
		faster := seed.MedianS < cli.MedianS
		fmt.Fprintf(w, "  slotshift seed beats redis-cli: p99 ratio %s (%.2fx vs %.2fx), time %s (%.2f s vs %.2f s)  %s\n",
			yesNo(better), seed.Impact.Ratio, cli.Impact.Ratio, yesNo(faster), seed.MedianS, cli.MedianS, verdict(better && faster))
	} else {
		fmt.Fprintln(w, "  slotshift seed beats redis-cli: n/a (needs modes seed and cli)")
	}
	if v := r.Ratios.CLIOverSlotshift; v != nil {
		fmt.Fprintf(w, "  fast vs redis-cli speed = %sx (minimum %.0fx)  %s\n", boundedRatio(*v, 1, minimumVsCLI), minimumVsCLI, verdict(*v >= minimumVsCLI))
	}
	for _, m := range []*modeResult{seed, fast} {
		if m == nil {
			continue
		}
		var hs, ds []string
		dipped := false
		for _, run := range m.Runs {
			hs = append(hs, fmt.Sprintf("%d (%.1f s)", run.Holds, run.HeldSeconds))
			ds = append(ds, fmt.Sprintf("%.1f s", run.DippedSeconds))
			dipped = dipped || run.DippedSeconds > 0
		}
		fmt.Fprintf(w, "  %s holds per run: %s\n", m.Label, strings.Join(hs, ", "))
		if dipped {
			fmt.Fprintf(w, "  %s time its sources spent below their steady floor, per run (summed over sources): %s\n", m.Label, strings.Join(ds, ", "))
		}
	}
	lost, stale := 0, 0
	for _, m := range r.Modes {
		if m.Impact != nil {
			lost += m.Impact.Lost
			stale += m.Impact.Stale
		}
		for _, f := range m.Failed {
			if f.Impact != nil {
				lost += f.Impact.Lost
				stale += f.Impact.Stale
			}
		}
	}
	fmt.Fprintf(w, "  acknowledged writes lost, all modes and runs: %d (must be 0), stale: %d  %s\n", lost, stale, verdict(lost == 0 && stale == 0))
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// writeJSON writes r to path atomically.
func (r *results) writeJSON(path string) error {
	return atomicfile.WriteJSON(path, r, 0o644)
}

// machineFacts gathers what the table's header prints.
func machineFacts(slotshiftBin string) machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadAvgStart: loadAvg()}
	m.stealAt, m.stealOK = readSteal()
	m.RedisServer = firstLine(exec.Command("redis-server", "--version").Output())
	m.RedisCLI = firstLine(exec.Command("redis-cli", "--version").Output())
	if slotshiftBin != "" {
		m.Slotshift = firstLine(exec.Command(slotshiftBin, "version").Output())
		if st, err := os.Stat(slotshiftBin); err == nil {
			m.Slotshift = strings.TrimSpace(fmt.Sprintf("%s %s (built %s)", slotshiftBin, m.Slotshift, st.ModTime().Format(time.RFC3339)))
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		for _, line := range strings.Split(string(b), "\n") {
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				m.MemoryGiB = int((kb + 512*1024) / (1024 * 1024))
				break
			}
		}
	}
	return m
}

func firstLine(b []byte, err error) string {
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line
}

// printSteal writes each mode's host steal around its rebalances (see
// steal.go), when any run read some: the client cannot tell the host's
// stalls from a mover's.
func (r *results) printSteal(w io.Writer) {
	var parts []string
	for _, m := range r.Modes {
		if m.Impact == nil || m.Impact.Steal == nil {
			continue
		}
		st := m.Impact.Steal
		parts = append(parts, fmt.Sprintf("%s %.1f / %.1f / %.1f", m.Label, st.Before, st.During, st.After))
	}
	if len(parts) == 0 {
		return
	}
	fmt.Fprintln(w, "  host steal (CPU time the hypervisor gave elsewhere: it stalls nodes and client alike), ms per second")
	fmt.Fprintln(w, "  before / during / after, medians of the runs (with -keep, each run's <mode>.load.json has it per second):")
	for _, p := range parts {
		fmt.Fprintf(w, "    %s\n", p)
	}
}
