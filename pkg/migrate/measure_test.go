package migrate

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestMeasureMove times moving 4096 slots holding about 250k keys to a new
// master (of a 1M-key, 3-master cluster), as the design's anchor measured
// redis-cli. It is slow to load, so it runs only with SLOTSHIFT_MEASURE=1:
//
//	SLOTSHIFT_MEASURE=1 go test -run TestMeasureMove -v ./pkg/migrate
func TestMeasureMove(t *testing.T) {
	if os.Getenv("SLOTSHIFT_MEASURE") == "" {
		t.Skip("set SLOTSHIFT_MEASURE=1 to measure")
	}
	tc := startWithEmptyMaster(t, 3, 3)
	const nkeys = 1_000_000
	tc.Load(t, nkeys, 12)
	batch := 100
	if v, err := strconv.Atoi(os.Getenv("SLOTSHIFT_MEASURE_BATCH")); err == nil {
		batch = v
	}
	opts := Options{Status: os.Stderr}
	if os.Getenv("SLOTSHIFT_MEASURE_NOSIZES") != "" {
		opts.BigKeyBytes, opts.BytesPerMigrate = -1, -1
	}
	p := tc.handPlan(t, 4096, batch)
	e := New(tc.pool, opts)
	start := time.Now()
	res, err := e.Run(context.Background(), p, nil)
	el := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("moved %d slots, %d keys, %d bytes in %d batches in %v (%.0f keys/s)", res.Slots, res.Keys, res.Bytes, len(res.Batches), el, float64(res.Keys)/el.Seconds())
	tc.waitAgreed(t)
	tc.assertNoOpenSlots(t)
	tc.CheckKeys(t, nkeys, 12)
}

// TestMeasureCPU reports the mover's own CPU time (user+system of this
// process, which does not include the redis-server processes) per moved
// key, for 200k keys in 4096 slots moved to a new master:
//
//	SLOTSHIFT_MEASURE=1 go test -run TestMeasureCPU -v ./pkg/migrate
func TestMeasureCPU(t *testing.T) {
	if os.Getenv("SLOTSHIFT_MEASURE") == "" {
		t.Skip("set SLOTSHIFT_MEASURE=1 to measure")
	}
	tc := startWithEmptyMaster(t, 3, 0)
	const nkeys = 200_000
	tc.Load(t, nkeys, 12)
	p := tc.handPlan(t, 4096, 100)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	before := cpuTime(t)
	start := time.Now()
	res, err := New(tc.pool, Options{}).Run(context.Background(), p, nil)
	el, cpu := time.Since(start), cpuTime(t)-before
	runtime.ReadMemStats(&m1)
	if err != nil {
		t.Fatal(err)
	}
	k := float64(res.Keys)
	t.Logf("moved %d keys in %v; CPU %v: %.1f µs/key; %.1f allocations, %.0f bytes allocated per key", res.Keys, el.Round(time.Millisecond),
		cpu.Round(time.Millisecond), float64(cpu.Microseconds())/k, float64(m1.Mallocs-m0.Mallocs)/k, float64(m1.TotalAlloc-m0.TotalAlloc)/k)
	tc.CheckKeys(t, nkeys, 12)
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
