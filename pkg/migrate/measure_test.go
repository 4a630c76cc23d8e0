package migrate

import (
	"context"
	"os"
	"strconv"
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
