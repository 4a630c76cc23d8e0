package gate

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/measure"
)

// Verdict is what a Decision tells a migration to do; it is the grade
// measure.Classify gives one value against one threshold.
type Verdict = measure.Verdict

// Verdicts, in increasing severity.
const (
	Proceed = measure.Proceed
	Hold    = measure.Hold
	Abort   = measure.Abort
)

// Gate names, as used in reasons and Reading.Gate.
const (
	GateLatencyAvg   = "latency_avg_ms"
	GateLatencyP99   = "latency_p99_ms"
	GateReplLag      = "replication_lag_ms"
	GateCPU          = "cpu_percent"
	GateMemory       = "memory_percent"
	GateClusterState = "cluster_state"
	GateFailedNodes  = "failed_nodes"
	GateProbe        = "probe"
	// GateNetwork (network.go) and GateWindow (window.go) are the others.
)

// Latency is one master's client-side PING latency over the window.
type Latency = measure.Latency

// Readings is one immutable snapshot of every probe's latest value. Maps are
// keyed by node address (host:port). A node listed in Masters or Replicas
// with no entry in a map has not been measured yet.
type Readings struct {
	Taken    time.Time `json:"taken"`
	Masters  []string  `json:"masters"`
	Replicas []string  `json:"replicas"`
	// Latency per master.
	Latency map[string]Latency `json:"latency,omitempty"`
	// ReplLagMS per replica: time for the replica to reach the offset its
	// master reported when the probe started.
	ReplLagMS map[string]float64 `json:"repl_lag_ms,omitempty"`
	// CPUPercent per node: used_cpu_sys+used_cpu_user delta over wall time.
	CPUPercent map[string]float64 `json:"cpu_percent,omitempty"`
	// MemoryPercent per node: used_memory over maxmemory, or over
	// total_system_memory when maxmemory is 0.
	MemoryPercent map[string]float64 `json:"memory_percent,omitempty"`
	// ClusterState per node: CLUSTER INFO cluster_state ("ok", "fail").
	ClusterState map[string]string `json:"cluster_state,omitempty"`
	// Failing lists nodes some node flags fail or fail? ("addr flags").
	Failing []string `json:"failing,omitempty"`
	// Baseline per master: its latency before the first batch, which the
	// latency variation gate compares with.
	Baseline map[string]Latency `json:"baseline,omitempty"`
	// NetworkPercent per server with a link_mbps (see Links): the input and
	// output of all its nodes in percent of the link. Linked lists those
	// servers.
	NetworkPercent map[string]float64 `json:"network_percent,omitempty"`
	Linked         []string           `json:"linked,omitempty"`
	// Errors holds the latest probe error per node.
	Errors map[string]string `json:"errors,omitempty"`
}

func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Decision is the verdict over one Readings.
type Decision struct {
	Verdict Verdict `json:"verdict"`
	// Reasons explain every red gate, abort reasons first, each naming the
	// node and the value against the threshold.
	Reasons []string `json:"reasons,omitempty"`
	// Readings are the measured values that were compared, each with its
	// own verdict, for the report.
	Readings []Reading `json:"readings,omitempty"`
}

// Reading is one gate's value on one node when a decision was taken, and
// the verdict it alone would give. Its fields match report.GateReading, so
// a caller that writes reports converts it with a type conversion.
type Reading struct {
	Gate     string  `json:"gate"` // e.g. latency_p99_ms
	Node     string  `json:"node,omitempty"`
	Value    float64 `json:"value"`
	Hold     float64 `json:"hold"`
	Abort    float64 `json:"abort"`
	Decision string  `json:"decision"` // proceed | hold | abort
}

// Reason returns the first reason, or "" when the decision is to proceed.
func (d Decision) Reason() string {
	if len(d.Reasons) == 0 {
		return ""
	}
	return d.Reasons[0]
}

// String is "green", "hold: <first reason>" or "abort: <first reason>".
func (d Decision) String() string {
	if d.Verdict == Proceed {
		return "green"
	}
	return d.Verdict.String() + ": " + d.Reason()
}

// Decide turns readings and thresholds into a Decision. It does no I/O.
// A threshold limit of 0 is unset (that limit never fires). A node that has
// not been measured, a probe error, a cluster_state other than ok or a
// failing node holds; only measured values can abort.
func Decide(r Readings, g inventory.Gates) Decision {
	var aborts, holds []string
	var readings []Reading
	check := func(gate, node string, v float64, t inventory.Threshold, unit string) {
		verdict := measure.Classify(v, t)
		switch verdict {
		case Abort:
			aborts = append(aborts, fmt.Sprintf("%s %s%s on %s > abort %s%s", strings.TrimSuffix(strings.TrimSuffix(gate, "_ms"), "_percent"), num(v), unit, node, num(t.Abort), unit))
		case Hold:
			holds = append(holds, fmt.Sprintf("%s %s%s on %s > hold %s%s", strings.TrimSuffix(strings.TrimSuffix(gate, "_ms"), "_percent"), num(v), unit, node, num(t.Hold), unit))
		}
		readings = append(readings, Reading{Gate: gate, Node: node, Value: v, Hold: t.Hold, Abort: t.Abort, Decision: verdict.String()})
	}
	missing := func(gate, node string) {
		holds = append(holds, fmt.Sprintf("%s on %s: no reading yet", strings.TrimSuffix(strings.TrimSuffix(gate, "_ms"), "_percent"), node))
	}

	masters := sorted(r.Masters)
	replicas := sorted(r.Replicas)
	all := sorted(append(append([]string(nil), masters...), replicas...))

	if len(masters) == 0 {
		holds = append(holds, "no reading yet: no master is probed")
	}
	for _, a := range slices.Sorted(maps.Keys(r.Errors)) {
		holds = append(holds, fmt.Sprintf("probe error on %s: %s", a, r.Errors[a]))
	}
	for _, a := range masters {
		l, ok := r.Latency[a]
		if !ok || l.Samples == 0 {
			if enabled(g.LatencyAvgMS) || enabled(g.LatencyP99MS) || enabled(g.LatencyVariationPercent) {
				missing("latency", a)
			}
			continue
		}
		if enabled(g.LatencyAvgMS) {
			check(GateLatencyAvg, a, l.AvgMS, g.LatencyAvgMS, "ms")
		}
		if enabled(g.LatencyP99MS) {
			check(GateLatencyP99, a, l.P99MS, g.LatencyP99MS, "ms")
		}
		decideVariation(a, l, r.Baseline, g.LatencyVariationPercent, check, missing)
	}
	if enabled(g.ReplicationLagMS) {
		for _, a := range replicas {
			v, ok := r.ReplLagMS[a]
			if !ok {
				missing(GateReplLag, a)
				continue
			}
			check(GateReplLag, a, v, g.ReplicationLagMS, "ms")
		}
	}
	for _, a := range all {
		if enabled(g.CPUPercent) {
			if v, ok := r.CPUPercent[a]; ok {
				check(GateCPU, a, v, g.CPUPercent, "%")
			} else {
				missing(GateCPU, a)
			}
		}
		if enabled(g.MemoryPercent) {
			if v, ok := r.MemoryPercent[a]; ok {
				check(GateMemory, a, v, g.MemoryPercent, "%")
			} else {
				missing(GateMemory, a)
			}
		}
	}
	for _, s := range linkedServers(r, g) {
		if v, ok := r.NetworkPercent[s]; ok {
			check(GateNetwork, s, v, g.NetworkPercent, "%")
		} else {
			missing(GateNetwork, s)
		}
	}
	for _, a := range all {
		st, ok := r.ClusterState[a]
		switch {
		case !ok:
			holds = append(holds, fmt.Sprintf("cluster_state on %s: no reading yet", a))
		case st != "ok":
			holds = append(holds, fmt.Sprintf("cluster_state %s on %s", st, a))
		}
	}
	for _, f := range sorted(r.Failing) {
		holds = append(holds, "failing node "+f)
	}

	d := Decision{Readings: readings}
	switch {
	case len(aborts) > 0:
		d.Verdict = Abort
	case len(holds) > 0:
		d.Verdict = Hold
	}
	d.Reasons = append(aborts, holds...)
	return d
}

func enabled(t inventory.Threshold) bool { return t.Hold > 0 || t.Abort > 0 }

// num formats a value compactly: 27.1, 20, 0.25.
func num(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	if v != 0 && v < 1 && v > -1 {
		s = fmt.Sprintf("%.2f", v)
	}
	s = strings.TrimSuffix(s, ".0")
	return s
}

func sorted(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}
