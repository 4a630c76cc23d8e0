package gate

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// MaxProbesPerSecond bounds the PING probes a Monitor sends to all masters
// together. At the default 10ms per master that is reached at 20 masters;
// beyond, each master is probed less often, so a 100-master cluster costs
// 2,000 PINGs/s, not 10,000.
const MaxProbesPerSecond = 2000

// ProbeInterval is the per-master PING period for a cluster of masters
// masters: max(floor, masters/MaxProbesPerSecond seconds). The total rate
// stays at or below MaxProbesPerSecond (or 1/floor per master when that is
// lower). With fewer samples per window, p99 becomes the window's slowest
// PING or close to it: stricter, never laxer.
func ProbeInterval(masters int, floor time.Duration) time.Duration {
	scaled := time.Duration(masters) * time.Second / MaxProbesPerSecond
	return max(scaled, floor)
}

// MaxLagProbesPerSecond bounds the replication-lag probes a Monitor starts
// over all replicas together. Each reads INFO replication on the master
// and then on the replica until it catches up: at the default 100ms per
// replica this is reached at 10 replicas, and beyond each replica is
// probed less often.
const MaxLagProbesPerSecond = 100

// MaxViewsPerSecond bounds the CLUSTER NODES reads a Monitor makes over
// all nodes together, for the nodes each sees failing. A reply lists
// every node, so reading it from every node each second costs the square
// of the cluster's size: 100 nodes would be 10,000 lines a second. A node
// marked FAIL is marked so on every node, so a few views a second see it.
const MaxViewsPerSecond = 10

// scaledInterval is max(floor, n/perSecond seconds): the period at which
// each of n probes runs so that together they run at most perSecond times
// a second (or 1/floor each when that is less).
func scaledInterval(n, perSecond int, floor time.Duration) time.Duration {
	return max(floor, time.Duration(n)*time.Second/time.Duration(perSecond))
}

// LagInterval is the period this Monitor probes each replica's lag at.
func (m *Monitor) LagInterval() time.Duration {
	return scaledInterval(len(m.replicas), MaxLagProbesPerSecond, m.opts.Interval)
}

// viewEvery is how many INFO probes of a node go by per CLUSTER NODES
// read of it (1: every one).
func (m *Monitor) viewEvery() int {
	every := scaledInterval(len(m.nodes()), MaxViewsPerSecond, m.opts.InfoInterval)
	return int((every + m.opts.InfoInterval - 1) / m.opts.InfoInterval)
}

// takesView reports whether node i's call-th INFO probe (from 0) also
// reads CLUSTER NODES, when a node does so once per every probes: its
// first always does, and after it the nodes take turns.
func takesView(i, call, every int) bool {
	return call == 0 || (call+i)%every == 0
}

// The Monitor's own latency histograms are smaller than pkg/measure's
// (which validate and verify use for one-off probes): 2 significant figures
// (p99 to within 1%) from 1µs to 60s is ~20 KB each instead of ~140 KB, and
// a Monitor keeps several per master.
const (
	probeHistMinUS   = 1
	probeHistMaxUS   = 60_000_000
	probeHistSigFigs = 2
)

func newProbeHistogram() *latHist {
	return &latHist{Histogram: hdrhistogram.New(probeHistMinUS, probeHistMaxUS, probeHistSigFigs)}
}

// latHist is a latency histogram that also keeps the sum of what it
// recorded, so its mean costs nothing: hdrhistogram's Mean walks every
// bucket, and on a 50-master cluster the monitor spent half its CPU there.
// Record through record, never the embedded RecordValue.
type latHist struct {
	*hdrhistogram.Histogram
	sum int64 // µs
}

func (h *latHist) record(us int64) {
	if h.RecordValue(us) == nil {
		h.sum += us
	}
}

func (h *latHist) reset() {
	h.Reset()
	h.sum = 0
}

// add merges o into h.
func (h *latHist) add(o *latHist) {
	h.Merge(o.Histogram)
	h.sum += o.sum
}

// summary is h's sample count, mean and p99.
func (h *latHist) summary() Latency {
	l := Latency{Samples: h.TotalCount()}
	if l.Samples > 0 {
		l.AvgMS = float64(h.sum) / float64(l.Samples) / 1000
		l.P99MS = float64(h.ValueAtQuantile(99)) / 1000
	}
	return l
}

// window is a sliding latency window of a fixed number of sub-histograms.
// Unlike hdrhistogram.WindowedHistogram, merging reuses one histogram, so
// reading the window allocates nothing. It is not safe for concurrent use.
type window struct {
	buckets []*latHist
	cur     int
	merged  *latHist
}

func newWindow(n int) *window {
	w := &window{merged: newProbeHistogram()}
	for range n {
		w.buckets = append(w.buckets, newProbeHistogram())
	}
	return w
}

func (w *window) record(us int64) { w.buckets[w.cur].record(us) }

// rotate drops the oldest sub-histogram and starts a fresh one.
func (w *window) rotate() {
	w.cur = (w.cur + 1) % len(w.buckets)
	w.buckets[w.cur].reset()
}

// restart drops every sub-histogram and starts again from h's samples.
func (w *window) restart(h *latHist) {
	for _, b := range w.buckets {
		b.reset()
	}
	w.buckets[w.cur].add(h)
}

// merge returns the whole window; the result is valid until the next call.
func (w *window) merge() *latHist {
	w.merged.reset()
	for _, b := range w.buckets {
		w.merged.add(b)
	}
	return w.merged
}

// LatencyInterval is the period this Monitor PINGs each master at:
// ProbeInterval of its masters and MonitorOptions.LatencyInterval.
func (m *Monitor) LatencyInterval() time.Duration {
	return ProbeInterval(len(m.masters), m.opts.LatencyInterval)
}

// ProbeRate is the PING probes per second this Monitor sends each master.
func (m *Monitor) ProbeRate() float64 { return 1 / m.LatencyInterval().Seconds() }

// PingsSent returns how many latency PINGs the Monitor has sent each
// master so far.
func (m *Monitor) PingsSent() map[string]int64 {
	out := make(map[string]int64, len(m.lat))
	for a, p := range m.lat {
		out[a] = p.sent.Load()
	}
	return out
}
