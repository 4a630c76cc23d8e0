package measure

import (
	"math"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/inventory"
)

func TestClassify(t *testing.T) {
	th := inventory.Threshold{Hold: 20, Abort: 200}
	for _, tc := range []struct {
		v    float64
		t    inventory.Threshold
		want Verdict
	}{
		{0, th, Proceed},
		{20, th, Proceed}, // at the limit is not over it
		{20.01, th, Hold},
		{200, th, Hold},
		{201, th, Abort},
		{1e9, inventory.Threshold{Hold: 20}, Hold},   // abort unset
		{1e9, inventory.Threshold{Abort: 50}, Abort}, // hold unset
		{1e9, inventory.Threshold{}, Proceed},        // gate off
	} {
		if got := Classify(tc.v, tc.t); got != tc.want {
			t.Errorf("Classify(%g, %+v) = %s, want %s", tc.v, tc.t, got, tc.want)
		}
	}
	if Abort.String() != "abort" || Hold.String() != "hold" || Proceed.String() != "proceed" {
		t.Error("verdict words changed: reports depend on them")
	}
}

func TestCPUPercent(t *testing.T) {
	t0 := time.Unix(100, 0)
	for _, tc := range []struct {
		name   string
		prev   CPUSample
		cur    CPUSample
		want   float64
		wantOK bool
	}{
		{"half a core", CPUSample{t0, 10}, CPUSample{t0.Add(2 * time.Second), 11}, 50, true},
		{"two cores", CPUSample{t0, 10}, CPUSample{t0.Add(time.Second), 12}, 200, true},
		{"counter reset", CPUSample{t0, 10}, CPUSample{t0.Add(time.Second), 1}, 0, true},
		{"no wall time", CPUSample{t0, 10}, CPUSample{t0, 11}, 0, false},
	} {
		got, ok := CPUPercent(tc.prev, tc.cur)
		if ok != tc.wantOK || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: CPUPercent = %g, %v; want %g, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
	if _, err := CPUSeconds(map[string]string{"used_cpu_sys": "1.5"}); err == nil {
		t.Error("CPUSeconds without used_cpu_user must fail")
	}
	if s, err := CPUSeconds(map[string]string{"used_cpu_sys": "1.5", "used_cpu_user": " 2.25"}); err != nil || s != 3.75 {
		t.Errorf("CPUSeconds = %g, %v; want 3.75", s, err)
	}
}

func TestMemory(t *testing.T) {
	for _, tc := range []struct {
		name     string
		info     map[string]string
		config   map[string]string
		limit    float64
		what     string
		pct      float64
		pctKnown bool
	}{
		{"maxmemory", map[string]string{"used_memory": "50", "maxmemory": "200", "total_system_memory": "1000"}, nil, 200, "maxmemory", 25, true},
		{"system memory", map[string]string{"used_memory": "50", "maxmemory": "0", "total_system_memory": "1000"}, nil, 1000, "system memory", 5, true},
		{"config 1kb", map[string]string{"used_memory": "256", "total_system_memory": "1000"}, map[string]string{"maxmemory": `"1KB"`}, 1024, "maxmemory", 25, true},
		{"config 1k", map[string]string{"used_memory": "250"}, map[string]string{"maxmemory": "1k"}, 1000, "maxmemory", 25, true},
		{"unknown", map[string]string{"used_memory": "50", "maxmemory": "0"}, nil, 0, "", 0, false},
	} {
		limit, what := MemoryLimit(tc.info, tc.config)
		pct, ok := MemoryPercent(tc.info, tc.config)
		if limit != tc.limit || what != tc.what || pct != tc.pct || ok != tc.pctKnown {
			t.Errorf("%s: limit %g %q, pct %g %v; want %g %q, %g %v", tc.name, limit, what, pct, ok, tc.limit, tc.what, tc.pct, tc.pctKnown)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4gb": 4 << 30, "1g": 1e9, "100mb": 100 << 20, "7": 7, "2k": 2000} {
		if got, ok := ParseSize(in); !ok || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "4tb", "yes"} {
		if _, ok := ParseSize(in); ok {
			t.Errorf("ParseSize(%q) must fail", in)
		}
	}
}

func TestLag(t *testing.T) {
	if got := LagMS(time.Millisecond); got != 0 {
		t.Errorf("caught up at the first look: %g ms, want 0", got)
	}
	if got := LagMS(1500 * time.Microsecond * 10); got != 15 {
		t.Errorf("LagMS(15ms) = %g", got)
	}
	off, err := ReplicaOffset(map[string]string{"slave_repl_offset": "42", "master_repl_offset": "40"})
	if err != nil || off != 42 {
		t.Errorf("ReplicaOffset = %d, %v; want 42", off, err)
	}
	off, err = ReplicaOffset(map[string]string{"master_repl_offset": "40"})
	if err != nil || off != 40 {
		t.Errorf("ReplicaOffset without slave_repl_offset = %d, %v; want 40", off, err)
	}
	if _, err := MasterOffset(map[string]string{"master_repl_offset": "x"}); err == nil {
		t.Error("MasterOffset of a non-number must fail")
	}
	if _, err := Float(map[string]string{}, "used_memory"); err == nil || err.Error() != "INFO has no used_memory" {
		t.Errorf("Float of a missing field: %v", err)
	}
}

func TestSummarize(t *testing.T) {
	h := NewHistogram()
	if l := Summarize(h); l.Samples != 0 || l.AvgMS != 0 || l.P99MS != 0 {
		t.Errorf("empty: %+v", l)
	}
	for i := 1; i <= 100; i++ {
		if err := h.RecordValue(Micros(time.Duration(i) * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	l := Summarize(h)
	// 3 significant figures: within 0.1% of the exact 50.5 and 99.
	if l.Samples != 100 || math.Abs(l.AvgMS-50.5) > 0.06 || math.Abs(l.P99MS-99) > 0.1 {
		t.Errorf("Summarize = %+v, want avg ~50.5, p99 ~99, 100 samples", l)
	}
	if Micros(0) != 1 || Micros(1500*time.Microsecond) != 1500 {
		t.Error("Micros must count microseconds, at least 1")
	}
}
