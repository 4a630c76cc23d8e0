package load

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/redis/go-redis/v9"
)

// Kind is a class of operation error.
type Kind string

// Error kinds. MOVED and ASK replies that the client followed are not
// errors; KindRedirect counts those it gave up on (too many hops).
const (
	KindTryAgain    Kind = "tryagain"
	KindClusterDown Kind = "clusterdown"
	KindRedirect    Kind = "moved/ask leaked"
	KindTimeout     Kind = "timeout"
	KindConnection  Kind = "connection"
	KindOther       Kind = "other"
)

// Classify returns the kind of an operation error ("" for nil and for
// redis.Nil, a read of a missing key).
func Classify(err error) Kind {
	if err == nil || errors.Is(err, redis.Nil) {
		return ""
	}
	if redis.IsTryAgainError(err) {
		return KindTryAgain
	}
	if redis.IsClusterDownError(err) {
		return KindClusterDown
	}
	if _, ok := redis.IsMovedError(err); ok {
		return KindRedirect
	}
	if _, ok := redis.IsAskError(err); ok {
		return KindRedirect
	}
	var re redis.Error
	if errors.As(err, &re) {
		return KindOther // any other reply: OOM, READONLY, LOADING...
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrPoolTimeout) || (errors.As(err, &ne) && ne.Timeout()) {
		return KindTimeout
	}
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, redis.ErrClosed) {
		return KindConnection
	}
	return KindOther
}

// Latency range recorded, in microseconds: 1µs to 60s, 3 significant
// digits (about 100 KB per histogram).
const (
	histMinUS   = 1
	histMaxUS   = 60_000_000
	histSigFigs = 3
)

// Latency summarises client latencies.
type Latency struct {
	Count         int64
	P50, P99, Max time.Duration
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Latency{Count: h.TotalCount(), P50: us(h.ValueAtQuantile(50)), P99: us(h.ValueAtQuantile(99)), Max: us(h.Max())}
}

// Second is one second of the run: operations that completed in it, their
// latency and their errors by kind.
type Second struct {
	Second  int // 0 = the first second of the run
	Ops     int64
	Errors  map[Kind]int64 // nil when none
	Latency Latency
}

// recorder keeps latency and errors per second and for the whole run. An
// operation counts in the second in which it completed.
type recorder struct {
	mu    sync.Mutex
	start time.Time
	cur   Second
	hist  *hdrhistogram.Histogram // the current second
	// spans are the latencies between marks (see Generator.Mark); the
	// last is the current span. Together they are the whole run's.
	// direct are the same spans' operations that followed no redirect.
	spans  []*hdrhistogram.Histogram
	direct []*hdrhistogram.Histogram
	errors map[Kind]int64
	series []Second
	onTick func(Second) // called, outside the lock, as each second closes
}

func newRecorder(start time.Time, onTick func(Second)) *recorder {
	return &recorder{
		start:  start,
		hist:   hdrhistogram.New(histMinUS, histMaxUS, histSigFigs),
		spans:  []*hdrhistogram.Histogram{hdrhistogram.New(histMinUS, histMaxUS, histSigFigs)},
		direct: []*hdrhistogram.Histogram{hdrhistogram.New(histMinUS, histMaxUS, histSigFigs)},
		errors: map[Kind]int64{},
		onTick: onTick,
	}
}

// record adds one operation that completed at now; redirected is true
// when it followed a MOVED or ASK reply.
func (r *recorder) record(now time.Time, took time.Duration, kind Kind, redirected bool) {
	us := min(max(took.Microseconds(), histMinUS), histMaxUS)
	r.mu.Lock()
	closed := r.advance(now)
	_ = r.hist.RecordValue(us)
	_ = r.spans[len(r.spans)-1].RecordValue(us)
	if !redirected {
		_ = r.direct[len(r.direct)-1].RecordValue(us)
	}
	r.cur.Ops++
	if kind != "" {
		if r.cur.Errors == nil {
			r.cur.Errors = map[Kind]int64{}
		}
		r.cur.Errors[kind]++
		r.errors[kind]++
	}
	r.mu.Unlock()
	r.tick(closed)
}

// mark ends the current span and starts the next at now.
func (r *recorder) mark(now time.Time) {
	r.mu.Lock()
	closed := r.advance(now)
	r.spans = append(r.spans, hdrhistogram.New(histMinUS, histMaxUS, histSigFigs))
	r.direct = append(r.direct, hdrhistogram.New(histMinUS, histMaxUS, histSigFigs))
	r.mu.Unlock()
	r.tick(closed)
}

// advance closes every second before now's and returns them; r.mu held.
func (r *recorder) advance(now time.Time) []Second {
	sec := int(now.Sub(r.start) / time.Second)
	var closed []Second
	for r.cur.Second < sec {
		closed = append(closed, r.closeSecond())
	}
	return closed
}

// closeSecond appends the current second to the series and starts the
// next; r.mu held.
func (r *recorder) closeSecond() Second {
	s := r.cur
	s.Latency = latencyOf(r.hist)
	r.series = append(r.series, s)
	r.hist.Reset()
	r.cur = Second{Second: s.Second + 1}
	return s
}

func (r *recorder) tick(closed []Second) {
	if r.onTick == nil {
		return
	}
	for _, s := range closed {
		r.onTick(s)
	}
}

// finish closes the seconds up to now, and the current one when it saw
// any operation, and returns the series, the whole run's latency, the
// errors by kind and the spans. No operation is recorded after it.
func (r *recorder) finish(now time.Time) ([]Second, Latency, map[Kind]int64, Spans) {
	r.mu.Lock()
	closed := r.advance(now)
	if r.cur.Ops > 0 {
		closed = append(closed, r.closeSecond())
	}
	series, errs := append([]Second(nil), r.series...), maps.Clone(r.errors)
	spans := Spans{h: slices.Clone(r.spans), direct: slices.Clone(r.direct)}
	r.mu.Unlock()
	lat := spans.Latency(spans.all()...)
	r.tick(closed)
	return series, lat, errs, spans
}

// Spans are the latencies of a run's spans, between the marks that
// Generator.Mark set: span 0 runs from the start to the first mark, the
// last from the last mark to the end. An operation counts in the span in
// which it completed.
type Spans struct {
	h, direct []*hdrhistogram.Histogram
}

// Len is the number of spans: one more than the marks.
func (s Spans) Len() int { return len(s.h) }

// all returns the index of every span.
func (s Spans) all() []int {
	idx := make([]int, len(s.h))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// Latency is the latency of the operations of the spans idx together: their
// exact quantiles (to the histograms' 3 significant digits), not a mean of
// each span's. An index out of range adds nothing.
func (s Spans) Latency(idx ...int) Latency { return merged(s.h, idx) }

// Direct is Latency of the operations that followed no MOVED or ASK
// reply: a slot's keys that already moved answer their clients with ASK
// while the slot is open, each one more round trip, and Direct tells that
// cost apart from the source's slower answers.
func (s Spans) Direct(idx ...int) Latency { return merged(s.direct, idx) }

func merged(hs []*hdrhistogram.Histogram, idx []int) Latency {
	m := hdrhistogram.New(histMinUS, histMaxUS, histSigFigs)
	for _, i := range idx {
		if i >= 0 && i < len(hs) {
			m.Merge(hs[i])
		}
	}
	return latencyOf(m)
}
