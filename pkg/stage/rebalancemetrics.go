package stage

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/logkey"
	"github.com/slotshift/slotshift/pkg/metrics"
	"github.com/slotshift/slotshift/pkg/migrate"
	"github.com/slotshift/slotshift/pkg/report"
)

// IDMetrics is the check of a rebalance whose metrics could not be
// written or pushed at the end: a warning, never a failure of the run.
const IDMetrics = "rebalance.metrics"

// Pushes at status ticks are rate-limited and bounded more tightly than
// the last one, so that a slow gateway delays the status line little.
const (
	pushEvery       = 10 * time.Second
	tickPushTimeout = 2 * time.Second
	lastPushTimeout = 5 * time.Second
)

// rebalanceMetrics writes a run's metrics (RebalanceInput.MetricsFile,
// RebalanceInput.Pushgateway) at each status tick and at the end. A nil
// *rebalanceMetrics does nothing.
type rebalanceMetrics struct {
	rec     *metrics.Rebalance
	file    string
	gateway string
	current func() gate.Decision
	log     *slog.Logger

	mu       sync.Mutex
	lastPush time.Time
	failing  map[string]bool // destination -> its last attempt failed
}

// newMetrics returns the run's metrics writer, or nil when neither a file
// nor a gateway was asked for. current is the gates' decision now.
func (r *rebalancer) newMetrics(current func() gate.Decision) *rebalanceMetrics {
	if r.in.MetricsFile == "" && r.in.Pushgateway == "" {
		return nil
	}
	return &rebalanceMetrics{
		rec:  metrics.NewRebalance(r.inv.Cluster.Name, nil),
		file: r.in.MetricsFile, gateway: r.in.Pushgateway,
		current: current, log: r.log, failing: map[string]bool{},
	}
}

// onProgress returns an OnProgress that calls next (when not nil), then
// records the snapshot and publishes it.
func (m *rebalanceMetrics) onProgress(next func(migrate.Progress)) func(migrate.Progress) {
	if m == nil {
		return next
	}
	return func(p migrate.Progress) {
		if next != nil {
			next(p)
		}
		m.rec.Progress(p, m.current())
		m.mu.Lock()
		defer m.mu.Unlock()
		m.note(m.file, m.writeFile())
		if m.gateway != "" && time.Since(m.lastPush) >= pushEvery {
			m.lastPush = time.Now()
			m.note(m.gateway, m.rec.Push(context.Background(), m.gateway, tickPushTimeout))
		}
	}
}

// finish records the run's result and publishes it one last time, even
// when ctx was cancelled (an interrupted run's numbers matter most). It
// returns a warning check when that last write or push failed.
func (m *rebalanceMetrics) finish(ctx context.Context, res migrate.Result) []report.Check {
	if m == nil {
		return nil
	}
	m.rec.Finish(res)
	m.mu.Lock()
	defer m.mu.Unlock()
	var failed []string
	if err := m.writeFile(); err != nil {
		failed = append(failed, err.Error())
		m.note(m.file, err)
	}
	if m.gateway != "" {
		err := m.rec.Push(context.WithoutCancel(ctx), m.gateway, lastPushTimeout)
		if err != nil {
			failed = append(failed, err.Error())
		}
		m.note(m.gateway, err)
	}
	if len(failed) == 0 {
		return nil
	}
	return []report.Check{{ID: IDMetrics, Status: report.Warn, Message: "metrics not published: " + strings.Join(failed, "; "),
		Hint: "the rebalance itself is unaffected; check the metrics file's directory or the Pushgateway"}}
}

func (m *rebalanceMetrics) writeFile() error {
	if m.file == "" {
		return nil
	}
	if err := m.rec.WriteFile(m.file); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	return nil
}

// note logs a destination's first failure and its recovery, not every
// tick's failure again. The caller holds mu.
func (m *rebalanceMetrics) note(dest string, err error) {
	switch {
	case err != nil && !m.failing[dest]:
		m.log.Warn("metrics not published; the rebalance goes on", logkey.Detail, dest, logkey.Error, err)
	case err == nil && m.failing[dest]:
		m.log.Info("metrics published again", logkey.Detail, dest)
	}
	m.failing[dest] = err != nil
}
