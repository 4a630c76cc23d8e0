package measure

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms record microseconds from 1 µs to 60 s, to 3
// significant figures.
const (
	histMinUS   = 1
	histMaxUS   = 60_000_000
	histSigFigs = 3
)

// Latency is a node's client-side PING latency over some samples.
type Latency struct {
	AvgMS   float64 `json:"avg_ms"`
	P99MS   float64 `json:"p99_ms"`
	Samples int64   `json:"samples"`
}

// NewHistogram returns an empty latency histogram.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinUS, histMaxUS, histSigFigs)
}

// NewWindowed returns an empty sliding-window latency histogram of n
// sub-histograms.
func NewWindowed(n int) *hdrhistogram.WindowedHistogram {
	return hdrhistogram.NewWindowed(n, histMinUS, histMaxUS, histSigFigs)
}

// Micros is a PING's round trip as a histogram value: microseconds, at
// least 1.
func Micros(d time.Duration) int64 { return max(d.Microseconds(), 1) }

// Summarize returns the mean and the 99th percentile of h in milliseconds.
func Summarize(h *hdrhistogram.Histogram) Latency {
	l := Latency{Samples: h.TotalCount()}
	if l.Samples > 0 {
		l.AvgMS = h.Mean() / 1000
		l.P99MS = float64(h.ValueAtQuantile(99)) / 1000
	}
	return l
}
