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
	r.record(start.Add(100*time.Millisecond), time.Millisecond, "")
	r.record(start.Add(900*time.Millisecond), 3*time.Millisecond, KindTimeout)
	// Nothing completes in second 1; second 2 has one operation.
	r.record(start.Add(2500*time.Millisecond), 10*time.Millisecond, "")
	series, lat, errs := r.finish(start.Add(2600 * time.Millisecond))
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
