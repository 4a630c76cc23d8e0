package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestCodecRoundTripAndSizes(t *testing.T) {
	c := codec{run: "0badcafe", min: 8, max: 200}
	sizes := map[int]bool{}
	for i := range 50 {
		for v := uint32(1); v <= 20; v++ {
			val := c.value(i, v)
			if n := c.size(i, v); len(val) != max(n, len(c.run)+len(fmt.Sprint(i))+len(fmt.Sprint(v))+3) {
				t.Fatalf("value(%d, %d) is %d bytes, want size %d (or its header)", i, v, len(val), n)
			}
			sizes[len(val)] = true
			got, ok := c.version(i, val)
			if !ok || got != v {
				t.Fatalf("version(%d, %q) = %d, %v; want %d", i, val, got, ok, v)
			}
			if _, ok := c.version(i+1, val); ok {
				t.Fatalf("key %d's value accepted for key %d", i, i+1)
			}
		}
	}
	if len(sizes) < 20 {
		t.Errorf("only %d distinct sizes between 8 and 200", len(sizes))
	}
	other := codec{run: "feedf00d", min: 8, max: 200}
	if _, ok := c.version(3, other.value(3, 1)); ok {
		t.Error("another run's value accepted")
	}
	val := c.value(3, 4)
	for _, bad := range []string{val[:len(val)-1], val + ".", strings.Replace(val, ":4:", ":0:", 1), "junk", ""} {
		if _, ok := c.version(3, bad); ok {
			t.Errorf("corrupt value %q accepted", bad)
		}
	}
}

func TestJudge(t *testing.T) {
	c := codec{run: "abc", min: 16, max: 16}
	cases := []struct {
		name   string
		st     keyState
		val    string
		exists bool
		want   verdict
	}{
		{"never written, missing", keyState{}, "", false, verdictOK},
		{"never acknowledged, anything", keyState{acked: 0, attempted: 2}, "leftover", true, verdictOK},
		{"acknowledged value", keyState{acked: 3, attempted: 3}, c.value(7, 3), true, verdictOK},
		{"acknowledged, missing", keyState{acked: 3, attempted: 3}, "", false, verdictLost},
		{"acknowledged, unknown write pending, missing", keyState{acked: 3, attempted: 5}, "", false, verdictLost},
		{"older value", keyState{acked: 3, attempted: 3}, c.value(7, 2), true, verdictStale},
		{"older value from a failed write", keyState{acked: 3, attempted: 3}, c.value(7, 1), true, verdictStale},
		{"newer value from a write with unknown outcome", keyState{acked: 3, attempted: 5}, c.value(7, 5), true, verdictUnknownApplied},
		{"newer value never written", keyState{acked: 3, attempted: 3}, c.value(7, 4), true, verdictForeign},
		{"another key's value", keyState{acked: 3, attempted: 3}, c.value(8, 3), true, verdictForeign},
		{"junk", keyState{acked: 1, attempted: 1}, "junk", true, verdictForeign},
	}
	for _, tc := range cases {
		if got := c.judge(7, tc.st, tc.val, tc.exists); got != tc.want {
			t.Errorf("%s: verdict %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want Kind
	}{
		{nil, ""},
		{redis.Nil, ""},
		{errors.New("TRYAGAIN Multiple keys request during rehashing of slot"), KindTryAgain},
		{errors.New("CLUSTERDOWN The cluster is down"), KindClusterDown},
		{errors.New("MOVED 3999 127.0.0.1:6381"), KindRedirect},
		{errors.New("ASK 3999 127.0.0.1:6381"), KindRedirect},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), KindTimeout},
		{&net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, KindTimeout},
		{redis.ErrPoolTimeout, KindTimeout},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, KindConnection},
		{io.EOF, KindConnection},
		{redis.ErrClosed, KindConnection},
		{errors.New("OOM command not allowed"), KindOther},
	}
	for _, tc := range cases {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestRecorderSeconds(t *testing.T) {
	start := time.Unix(1000, 0)
	var ticked []int
	r := newRecorder(start, func(s Second) { ticked = append(ticked, s.Second) })
	r.record(start.Add(100*time.Millisecond), time.Millisecond, "", false)
	r.record(start.Add(900*time.Millisecond), 3*time.Millisecond, KindTimeout, false)
	// Nothing completes in second 1; second 2 has one operation, which
	// followed a redirect.
	r.record(start.Add(2500*time.Millisecond), 10*time.Millisecond, "", true)
	series, lat, errs, spans := r.finish(start.Add(2600 * time.Millisecond))
	if len(series) != 3 || series[0].Ops != 2 || series[1].Ops != 0 || series[2].Ops != 1 {
		t.Fatalf("series %+v, want 2, 0, 1 operations", series)
	}
	if series[0].Errors[KindTimeout] != 1 || series[2].Errors != nil || errs[KindTimeout] != 1 {
		t.Errorf("errors by second %v / %v, total %v", series[0].Errors, series[2].Errors, errs)
	}
	if l := series[0].Latency; l.Count != 2 || l.P50 < 900*time.Microsecond || l.P50 > 1100*time.Microsecond || l.Max < 2990*time.Microsecond || l.Max > 3010*time.Microsecond {
		t.Errorf("second 0 latency %+v, want p50 ~1ms, max ~3ms", l)
	}
	if lat.Count != 3 || lat.Max < 9990*time.Microsecond || lat.Max > 10010*time.Microsecond {
		t.Errorf("overall latency %+v", lat)
	}
	if fmt.Sprint(ticked) != "[0 1 2]" {
		t.Errorf("ticks %v", ticked)
	}
	// The redirected operation counts in the span, not in its direct
	// operations.
	if all, d := spans.Latency(0), spans.Direct(0); all != lat || d.Count != 2 || d.Max < 2990*time.Microsecond || d.Max > 3010*time.Microsecond {
		t.Errorf("span %+v, its direct operations %+v; want the run's %+v and the two not redirected, max ~3ms", all, d, lat)
	}
}

// TestRecorderSpans: marks cut the run into spans whose latency is exact
// over their operations, alone or together, which a mean of per-second
// quantiles is not: one slow second among many quiet ones moves that mean
// but not the p99 of all their operations.
func TestRecorderSpans(t *testing.T) {
	start := time.Unix(1000, 0)
	r := newRecorder(start, nil)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	// Span 0: 100 operations of 1 ms in the first second.
	for i := range 100 {
		r.record(at(time.Duration(i)*time.Millisecond), time.Millisecond, "", false)
	}
	r.mark(at(time.Second))
	// Span 1: 20 quiet seconds of 100 operations each at 1 ms, then one
	// second whose 100 operations took 9 ms.
	for sec := 1; sec <= 21; sec++ {
		took := time.Millisecond
		if sec == 21 {
			took = 9 * time.Millisecond
		}
		for i := range 100 {
			r.record(at(time.Duration(sec)*time.Second+time.Duration(i)*time.Millisecond), took, "", false)
		}
	}
	r.mark(at(22 * time.Second))
	// Span 2: 100 operations of 3 ms.
	for i := range 100 {
		r.record(at(22*time.Second+time.Duration(i)*time.Millisecond), 3*time.Millisecond, "", false)
	}
	series, _, _, spans := r.finish(at(23 * time.Second))
	if spans.Len() != 3 {
		t.Fatalf("%d spans, want 3", spans.Len())
	}
	near := func(got, want time.Duration) bool { return got > want*99/100 && got < want*101/100 }
	// 100 of 2,100 operations (4.8%) took 9 ms: the span's p99 is 9 ms.
	if l := spans.Latency(1); l.Count != 2100 || !near(l.P99, 9*time.Millisecond) || !near(l.P50, time.Millisecond) {
		t.Errorf("span 1: %+v, want 2100 ops, p50 1 ms, p99 9 ms", l)
	}
	// Spans 0 and 2 together: half took 1 ms, half 3 ms.
	if l := spans.Latency(0, 2); l.Count != 200 || !near(l.P99, 3*time.Millisecond) || !near(l.P50, time.Millisecond) {
		t.Errorf("spans 0 and 2: %+v, want 200 ops, p50 1 ms, p99 3 ms", l)
	}
	if l := spans.Latency(0, 1, 2); l.Count != 2300 || !near(l.Max, 9*time.Millisecond) {
		t.Errorf("all spans: %+v, want 2300 ops, max 9 ms", l)
	}
	if l := spans.Latency(3, -1); l.Count != 0 {
		t.Errorf("spans out of range: %+v, want nothing", l)
	}
	// Marks do not change the seconds.
	if len(series) != 23 || series[21].Latency.Count != 100 || !near(series[21].Latency.P99, 9*time.Millisecond) {
		t.Errorf("%d seconds, second 21 %+v", len(series), series[21].Latency)
	}
	// A rarer slow second (10 slow operations among 1,910) stays out of
	// the p99 of all operations, but not out of the mean of per-second p99s.
	r2 := newRecorder(start, nil)
	for sec := range 20 {
		n, took := 100, time.Millisecond
		if sec == 10 {
			n, took = 10, 9*time.Millisecond
		}
		for i := range n {
			r2.record(at(time.Duration(sec)*time.Second+time.Duration(i)*time.Millisecond), took, "", false)
		}
	}
	secs, _, _, sp := r2.finish(at(20 * time.Second))
	if l := sp.Latency(0); !near(l.P99, time.Millisecond) {
		t.Errorf("p99 of all operations %v, want 1 ms: 10 slow of 1,910 is under 1%%", l.P99)
	}
	var sum, n float64
	for _, s := range secs {
		sum += float64(s.Latency.P99) * float64(s.Latency.Count)
		n += float64(s.Latency.Count)
	}
	if mean := time.Duration(sum / n); mean <= time.Millisecond*101/100 {
		t.Errorf("ops-weighted mean of per-second p99 %v: the slow second should lift it above 1 ms", mean)
	}
}

func TestValidate(t *testing.T) {
	ok := Options{Seeds: []string{"127.0.0.1:1"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, o := range map[string]Options{
		"no seeds":        {},
		"negative rate":   {Seeds: ok.Seeds, Rate: -1},
		"clients > keys":  {Seeds: ok.Seeds, Keys: 4, Clients: 8},
		"too many keys":   {Seeds: ok.Seeds, Keys: MaxKeys + 1},
		"min > max":       {Seeds: ok.Seeds, ValueMin: 100, ValueMax: 10},
		"read percent":    {Seeds: ok.Seeds, ReadPercent: 101},
		"negative length": {Seeds: ok.Seeds, Duration: -time.Second},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
