package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/report"
)

// At scale (-scale N): N loaded masters and a pair of empty ones, one
// slotshift rebalance at the seed's gates, no client load. It shows what
// slotshift costs on a large cluster: its CPU time and peak RSS, and how
// often its probes hit each node (PING calls in INFO commandstats).
const (
	scaleAdded = 2
	// scaleNodeTimeoutMS is Redis's own default, longer than the timed
	// runs' node timeout. Each node pings every other at least once per
	// half node timeout, with a 2 KB slot bitmap in each message: at 5 s,
	// 104 nodes sent ~4,000 such messages a second, and on a few cores
	// their idle PING p99 was ~40 ms before slotshift did anything.
	scaleNodeTimeoutMS = 15000
	minScaleMasters    = 3
	// maxScaleMasters bounds the processes started (each redis-server
	// takes a few MB and a share of the cores).
	maxScaleMasters = 200
)

// scaleResult is the at-scale run.
type scaleResult struct {
	Masters     int     `json:"masters"`
	Added       int     `json:"added"`
	Keys        int     `json:"keys"`
	Seconds     float64 `json:"seconds"`
	CPUSeconds  float64 `json:"cpu_s"`
	MaxRSSMB    float64 `json:"max_rss_mb"`
	KeysMoved   int64   `json:"keys_moved"`
	Holds       int     `json:"holds"`
	HeldSeconds float64 `json:"held_s"`
	// Aborted is false when the run finished; a run that did not finish
	// (an abort, a hold past the timeout, an error) fails the benchmark.
	// KeysMoved is then what its report says it moved before it stopped,
	// and HoldsUnknown says that the report had no count of its holds (a
	// run interrupted before its gates check was written).
	Aborted      bool `json:"aborted"`
	HoldsUnknown bool `json:"holds_unknown,omitempty"`
	// Why is the line of slotshift's output that says why it stopped.
	Why string `json:"why,omitempty"`
	// PingsPerS are the PINGs per second each node answered during the
	// run: minimum, median and maximum over the nodes.
	PingsPerSMin    float64 `json:"pings_per_s_min"`
	PingsPerSMedian float64 `json:"pings_per_s_median"`
	PingsPerSMax    float64 `json:"pings_per_s_max"`
}

// scale runs the at-scale scenario with masters loaded masters.
func (b *bench) scale(ctx context.Context, rc runConfig, masters int) error {
	start := time.Now()
	c, err := buildClusterOf(ctx, b.log, b.password, b.cfg.scaleKeys, scaleNodeTimeoutMS, masters, scaleAdded, b.cfg.replicas)
	if err != nil {
		return fmt.Errorf("at scale: build cluster: %w", err)
	}
	defer c.close()
	b.log.Info("at scale: cluster ready", "masters", masters, "added", scaleAdded, "took", time.Since(start).Round(time.Millisecond))
	sr := &scaleResult{Masters: masters, Added: scaleAdded, Keys: b.cfg.scaleKeys}
	b.res.Scale = sr

	before, err := c.pings(ctx)
	if err != nil {
		return fmt.Errorf("at scale: %w", err)
	}
	rc.nodeTimeoutMS = scaleNodeTimeoutMS
	tr, err := runMode(ctx, c, modeSeed, rc)
	if b.cfg.keepDir != "" {
		if kerr := keepOutputs(c.dir, modeSeed, filepath.Join(b.cfg.keepDir, "scale")); kerr != nil {
			b.log.Warn("keep outputs", "dir", b.cfg.keepDir, "err", kerr)
		}
	}
	sr.Seconds, sr.CPUSeconds, sr.MaxRSSMB = tr.Seconds, tr.CPUSeconds, float64(tr.MaxRSSKB)/1024
	sr.Holds, sr.HeldSeconds = tr.Holds, tr.HeldSeconds
	runErr := err
	if runErr != nil {
		rep, _ := parseReport(filepath.Join(c.dir, "reports", "rebalance.json")) // nil: none
		sr.Aborted, sr.Why = true, abortReason(rep, runErr)
		sr.KeysMoved, sr.Holds, sr.HeldSeconds, sr.HoldsUnknown = stoppedAt(rep)
	}
	after, err := c.pings(ctx)
	if err != nil {
		return fmt.Errorf("at scale: %w", err)
	}
	var rates []float64
	for i := range before {
		rates = append(rates, float64(after[i]-before[i])/tr.Seconds)
	}
	sr.PingsPerSMin, sr.PingsPerSMedian, sr.PingsPerSMax = minMedianMax(rates)
	if runErr != nil {
		return fmt.Errorf("at scale: %w", runErr)
	}
	v, err := c.verify(ctx)
	if err != nil {
		return fmt.Errorf("at scale: verify: %w", err)
	}
	sr.KeysMoved = v.KeysMoved
	if len(v.Problems) > 0 {
		return fmt.Errorf("at scale: the cluster is wrong after the rebalance:\n  - %s", strings.Join(v.Problems, "\n  - "))
	}
	return nil
}

// pings returns every node's PING count (INFO commandstats), in node
// order.
func (c *benchCluster) pings(ctx context.Context) ([]int64, error) {
	out := make([]int64, len(c.nodes))
	for i, n := range c.nodes {
		info, err := c.pool.Info(ctx, n.Addr, "commandstats")
		if err != nil {
			return nil, err
		}
		out[i] = pingCalls(info["cmdstat_ping"])
	}
	return out, nil
}

// pingCalls reads calls= from a commandstats value such as
// "calls=12,usec=30,usec_per_call=2.50,..."; 0 when absent.
func pingCalls(v string) int64 {
	for _, f := range strings.Split(v, ",") {
		if n, ok := strings.CutPrefix(f, "calls="); ok {
			calls, _ := strconv.ParseInt(n, 10, 64)
			return calls
		}
	}
	return 0
}

// abortReason says why a failed run stopped: the rebalance.gates check of
// slotshift's report rep when it failed, else the error's first line. rep
// may be nil (no report).
func abortReason(rep *report.Report, err error) string {
	if rep != nil {
		for _, c := range rep.Checks {
			if c.ID == gatesCheckID && c.Status != report.Pass {
				return c.Message
			}
		}
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	return first
}

// stoppedAt reads what a run that did not finish had done, from its
// report rep: the keys it moved and its holds, with unknown set when the
// report has no rebalance.gates check to count them (or rep is nil).
func stoppedAt(rep *report.Report) (keys int64, holds int, held float64, unknown bool) {
	if rep == nil {
		return 0, 0, 0, true
	}
	if rep.Rebalance != nil {
		keys = rep.Rebalance.KeysMoved
	}
	if !slices.ContainsFunc(rep.Checks, func(c report.Check) bool { return c.ID == gatesCheckID }) {
		return keys, 0, 0, true
	}
	holds, held = gateHolds(rep.Checks)
	return keys, holds, held, false
}

func minMedianMax(xs []float64) (float64, float64, float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, median(xs), hi
}

// print writes the at-scale lines.
func (s *scaleResult) print(w io.Writer) {
	fmt.Fprintf(w, "at scale: %d loaded masters + %d empty, %d keys, slotshift seed, no client load, cluster-node-timeout %d ms\n",
		s.Masters, s.Added, s.Keys, scaleNodeTimeoutMS)
	end, moved, holds := "no abort", "keys moved", fmt.Sprintf("holds %d (%.1f s)", s.Holds, s.HeldSeconds)
	if s.Aborted {
		end = "DID NOT FINISH (aborted, held past its timeout or failed): " + s.Why
		moved = "keys moved before it stopped"
	}
	if s.HoldsUnknown {
		holds = "holds not counted (its report has no gates check)"
	}
	fmt.Fprintf(w, "  %.2f s, %d %s, CPU %.2f s, peak RSS %.0f MB, %s, %s\n",
		s.Seconds, s.KeysMoved, moved, s.CPUSeconds, s.MaxRSSMB, holds, end)
	fmt.Fprintf(w, "  PINGs per node per second during the run: min %.1f, median %.1f, max %.1f\n",
		s.PingsPerSMin, s.PingsPerSMedian, s.PingsPerSMax)
}
