package gate

import (
	"context"
	"fmt"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/measure"
)

// The probes below take one measurement each. The Monitor runs them in its
// loops; validate and verify run them once per node, so that a read-only
// stage measures a node exactly as the gates do.

// ProbeLag measures how long replica takes to reach the replication offset
// its master reports now, in milliseconds. No writes are needed: an idle
// replica that is caught up reads 0. A replica that has not caught up
// within bound reads as bound.
func ProbeLag(ctx context.Context, pool *admin.Pool, replica, master string, bound time.Duration) (float64, error) {
	info, err := pool.Info(ctx, master, "replication")
	if err != nil {
		return 0, fmt.Errorf("INFO replication on master %s: %w", master, err)
	}
	target, err := measure.MasterOffset(info)
	if err != nil {
		return 0, fmt.Errorf("master %s: %w", master, err)
	}
	start := time.Now()
	for {
		info, err := pool.Info(ctx, replica, "replication")
		if err != nil {
			return 0, fmt.Errorf("INFO replication on %s: %w", replica, err)
		}
		off, err := measure.ReplicaOffset(info)
		if err != nil {
			return 0, fmt.Errorf("replica %s: %w", replica, err)
		}
		elapsed := time.Since(start)
		if off >= target {
			return measure.LagMS(elapsed), nil
		}
		if elapsed >= bound {
			return float64(bound.Milliseconds()), nil
		}
		if !sleepCtx(ctx, measure.LagPoll) {
			return 0, ctx.Err()
		}
	}
}

// SampleCPU reads the CPU time the node at addr has used so far.
func SampleCPU(ctx context.Context, pool *admin.Pool, addr string) (measure.CPUSample, error) {
	info, err := pool.Info(ctx, addr, "cpu")
	if err != nil {
		return measure.CPUSample{}, fmt.Errorf("INFO cpu: %w", err)
	}
	secs, err := measure.CPUSeconds(info)
	return measure.CPUSample{At: time.Now(), Seconds: secs}, err
}

// ProbeCPU measures the node's CPU use over interval of wall time, in
// percent of one core.
func ProbeCPU(ctx context.Context, pool *admin.Pool, addr string, interval time.Duration) (float64, error) {
	s0, err := SampleCPU(ctx, pool, addr)
	if err != nil {
		return 0, err
	}
	if !sleepCtx(ctx, interval) {
		return 0, ctx.Err()
	}
	s1, err := SampleCPU(ctx, pool, addr)
	if err != nil {
		return 0, err
	}
	pct, _ := measure.CPUPercent(s0, s1)
	return pct, nil
}

// ProbeLatency sends n PINGs to the node at addr, one at a time, and
// summarises their round trips as the gates' histograms do.
func ProbeLatency(ctx context.Context, pool *admin.Pool, addr string, n int) (Latency, error) {
	h := measure.NewHistogram()
	for range n {
		start := time.Now()
		if err := pool.Ping(ctx, addr); err != nil {
			return Latency{}, fmt.Errorf("PING %s: %w", addr, err)
		}
		_ = h.RecordValue(measure.Micros(time.Since(start)))
	}
	return measure.Summarize(h), nil
}
