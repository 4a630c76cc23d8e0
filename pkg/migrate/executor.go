package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/plan"
	"github.com/slotshift/slotshift/pkg/report"
)

// Gater is what the executor waits on between batches and samples between
// slots. gate.Policy implements it; tests fake it to inject red gates.
type Gater interface {
	// Wait blocks while the gates hold; see gate.Monitor.Wait.
	Wait(ctx context.Context) (gate.Decision, error)
	// Current decides on the latest readings without waiting.
	Current() gate.Decision
}

// Options configure an Executor. Zero values take the defaults.
type Options struct {
	// Concurrency is how many moves of a batch run at once. Default 4.
	Concurrency int
	// SlotsInFlight is how many slots of one move go through each protocol
	// step in one pipeline. Default 128.
	SlotsInFlight int
	// GroupsInFlight is how many such slot groups of one move run at once.
	// Default 2.
	GroupsInFlight int
	// KeysPerMigrate is the most keys per GETKEYSINSLOT and MIGRATE. Default 1000.
	KeysPerMigrate int
	// BytesPerMigrate caps the bytes per MIGRATE. Default 4 MiB; negative: no cap.
	BytesPerMigrate int64
	// MigrateTimeout is MIGRATE's base timeout (plus 1s per MiB). Default 10s.
	MigrateTimeout time.Duration
	// BigKeyBytes: a bigger key holds the run (ErrBigKey). Default 512 MiB;
	// negative disables the check.
	BigKeyBytes int64
	// PauseFile: while this file exists the run pauses between slots.
	PauseFile string
	// AbortFile: when this file appears the run stops at a slot boundary
	// with ErrAborted.
	AbortFile string
	// MaxBatches stops cleanly after that many batches; 0 runs them all.
	MaxBatches int
	// PauseBetweenBatches is slept after each batch but the last.
	PauseBetweenBatches time.Duration
	// Masters are every master's address, told each new slot owner. Default:
	// read from CLUSTER NODES of the plan's first reachable node.
	Masters []string
	// Status receives the status line, at most every StatusInterval.
	Status io.Writer
	// StatusInterval is the status line period. Default 1s.
	StatusInterval time.Duration
	// OnProgress receives the same snapshot as the status line (for JSON
	// progress events), at the same rate.
	OnProgress func(Progress)
	// BeforeStep is a test hook: see LegacyOptions.BeforeStep.
	BeforeStep func(step string, slot int) error
	// Mover replaces the legacy mover (e.g. atomic slot migration).
	Mover Mover
	// Log receives batch events. Default: discard.
	Log *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Executor runs a rebalance plan batch by batch behind the gates.
type Executor struct {
	pool *admin.Pool
	opts Options
}

// New returns an Executor that reaches nodes through pool.
func New(pool *admin.Pool, opts Options) *Executor {
	return &Executor{pool: pool, opts: opts.withDefaults()}
}

// Result is what a run did, complete or not.
type Result struct {
	Batches          []report.Batch `json:"batches"`
	Slots            int            `json:"slots"`
	Skipped          int            `json:"skipped"` // slots already on their target
	Keys             int64          `json:"keys"`
	Bytes            int64          `json:"bytes"`
	Replaced         int64          `json:"replaced"`
	BatchesRemaining int            `json:"batches_remaining"`
	Done             bool           `json:"done"`
	// Gate is the last gate decision taken.
	Gate     gate.Decision `json:"gate"`
	Duration time.Duration `json:"duration"`
}

// Progress is one snapshot of a run, for the status line and progress events.
type Progress struct {
	Batch      int           `json:"batch"`
	Batches    int           `json:"batches"`
	Slots      int           `json:"slots"`
	SlotsTotal int           `json:"slots_total"`
	Keys       int64         `json:"keys"`
	KeysPerSec float64       `json:"keys_per_sec"`
	ETA        time.Duration `json:"eta"` // -1 when unknown
	Gates      string        `json:"gates"`
	Elapsed    time.Duration `json:"elapsed"`
}

// String is the status line:
// "batch 7/41 · slots 700/4096 · keys 172k · 9.8k keys/s · ETA 3m · gates green".
func (p Progress) String() string {
	eta := "?"
	if p.ETA >= 0 {
		eta = fmtETA(p.ETA)
	}
	return fmt.Sprintf("batch %d/%d · slots %d/%d · keys %s · %s keys/s · ETA %s · gates %s",
		p.Batch, p.Batches, p.Slots, p.SlotsTotal, fmtCount(float64(p.Keys)), fmtCount(p.KeysPerSec), eta, p.Gates)
}

func fmtCount(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case v >= 1e5:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	}
	return fmt.Sprintf("%.0f", v)
}

func trimZero(s string) string {
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		return s[:len(s)-2]
	}
	return s
}

func fmtETA(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int((d+time.Second-1)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int((d+time.Minute-1)/time.Minute))
	}
	h := int(d / time.Hour)
	return fmt.Sprintf("%dh%dm", h, int((d-time.Duration(h)*time.Hour)/time.Minute))
}

type progress struct {
	start      time.Time
	batch      atomic.Int64
	batches    int
	slots      atomic.Int64
	slotsTotal int
	keys       atomic.Int64
	gates      atomic.Value // string
}

func (p *progress) snapshot() Progress {
	el := time.Since(p.start)
	s := Progress{
		Batch: int(p.batch.Load()), Batches: p.batches,
		Slots: int(p.slots.Load()), SlotsTotal: p.slotsTotal,
		Keys: p.keys.Load(), ETA: -1, Elapsed: el,
	}
	if g, ok := p.gates.Load().(string); ok {
		s.Gates = g
	}
	if sec := el.Seconds(); sec > 0 {
		s.KeysPerSec = float64(s.Keys) / sec
	}
	if s.Slots > 0 {
		s.ETA = time.Duration(float64(el) * float64(s.SlotsTotal-s.Slots) / float64(s.Slots))
	}
	return s
}

// Run executes p's batches in order. Before each batch it waits on g (nil:
// no gates): a hold that outlasts the hold timeout stops the run with
// ErrHeld, an abort with ErrAborted. Within a batch, the abort file, an
// abort verdict from g.Current and ctx's cancellation stop the run at a slot
// boundary: slots in flight are finished, no new slot is opened. Slots the
// target already owns are skipped, so a plan can be resumed after Repair.
//
// Batches overlap by at most one: once a move of batch N has finished, the
// gates are checked and batch N+1 starts, so the target keeps receiving
// while N's last move drains (the mover bounds the streams per node, so the
// overlap adds no load on any node, only removes idle time). Batch N+2 waits
// for N to finish. With PauseBetweenBatches set, batches do not overlap.
func (e *Executor) Run(ctx context.Context, p plan.Rebalance, g Gater) (Result, error) {
	start := time.Now()
	res := Result{BatchesRemaining: len(p.Batches)}
	masters, owners, err := e.discover(ctx, p)
	if err != nil {
		return res, err
	}
	mover := e.opts.Mover
	if mover == nil {
		l := NewLegacy(e.pool, masters, LegacyOptions{
			KeysPerMigrate: e.opts.KeysPerMigrate, BytesPerMigrate: e.opts.BytesPerMigrate,
			MigrateTimeout: e.opts.MigrateTimeout, BigKeyBytes: e.opts.BigKeyBytes,
			SlotsInFlight: e.opts.SlotsInFlight, GroupsInFlight: e.opts.GroupsInFlight,
			BeforeStep: e.opts.BeforeStep, Log: e.opts.Log,
		})
		defer l.Close()
		mover = l
	}
	prog := &progress{start: start, batches: len(p.Batches)}
	for _, b := range p.Batches {
		prog.slotsTotal += b.Slots()
	}
	prog.gates.Store("green")
	stopStatus := e.startStatus(prog, g)
	defer stopStatus()

	cur := &currentGate{g: g}
	stop := &stopper{}
	// In-flight slots must finish even after ctx is cancelled; they get a
	// context that is never cancelled, and stop only at slot boundaries.
	ioCtx := context.WithoutCancel(ctx)
	var (
		inflight []*batchRun
		runErr   error // why no further batch was started
	)
	// collect waits for the oldest batch in flight and adds it to res.
	collect := func() {
		br := inflight[0]
		inflight = inflight[1:]
		<-br.done
		res.Batches = append(res.Batches, br.rb)
		res.Slots += br.st.Slots
		res.Skipped += br.skipped
		res.Keys += br.st.Keys
		res.Bytes += br.st.Bytes
		res.Replaced += br.st.Replaced
		if br.err == nil {
			res.BatchesRemaining--
			e.opts.Log.Info("batch done", "batch", br.b.Number, "slots", br.st.Slots, "keys", br.st.Keys, "duration", time.Duration(float64(br.rb.Duration)*float64(time.Second)))
		}
	}
	overlap := e.opts.PauseBetweenBatches <= 0
	for i, b := range p.Batches {
		if e.opts.MaxBatches > 0 && i >= e.opts.MaxBatches {
			break
		}
		if len(inflight) == 2 || (len(inflight) == 1 && !overlap) {
			collect()
		}
		if len(inflight) == 1 {
			select {
			case <-inflight[0].moveDone:
			case <-inflight[0].done:
			}
		}
		if stop.get() != nil {
			break
		}
		if i > 0 && !overlap {
			select {
			case <-ctx.Done():
			case <-time.After(e.opts.PauseBetweenBatches):
			}
		}
		if err := e.boundary(ctx); err != nil {
			runErr = stop.set(err, 0)
			break
		}
		d := gate.Decision{}
		if g != nil {
			var err error
			d, err = g.Wait(ctx)
			res.Gate = d
			prog.gates.Store(d.String())
			switch {
			case errors.Is(err, gate.ErrHoldTimeout):
				// A hold stops new batches; the one in flight was let in
				// by the gates and finishes.
				runErr = fmt.Errorf("%w before batch %d: %s", ErrHeld, b.Number, d.Reason())
			case ctx.Err() != nil:
				runErr = stop.set(fmt.Errorf("%w before batch %d: %w", ErrInterrupted, b.Number, ctx.Err()), 0)
			case err != nil:
				runErr = stop.set(fmt.Errorf("gates before batch %d: %w", b.Number, err), 0)
			case d.Verdict == gate.Abort:
				runErr = stop.set(fmt.Errorf("%w before batch %d: %s", ErrAborted, b.Number, d.Reason()), 0)
			}
			if runErr != nil {
				break
			}
		}
		if stop.get() != nil {
			break
		}
		prog.batch.Store(int64(b.Number))
		br := &batchRun{b: b, done: make(chan struct{}), moveDone: make(chan struct{})}
		inflight = append(inflight, br)
		go func() {
			defer close(br.done)
			br.rb, br.st, br.skipped, br.err = e.runBatch(ctx, ioCtx, mover, b, owners, cur, prog, stop, br.moveDone)
			br.rb.Gates = gateReadings(d.Readings)
		}()
	}
	for len(inflight) > 0 {
		collect()
	}
	if err := stop.get(); err != nil {
		return e.finish(res, start), err
	}
	if runErr != nil {
		return e.finish(res, start), runErr
	}
	res.Done = res.BatchesRemaining == 0
	return e.finish(res, start), nil
}

// batchRun is one batch in flight.
type batchRun struct {
	b        plan.Batch
	done     chan struct{} // closed when the batch has finished
	moveDone chan struct{} // closed when its first move has finished
	rb       report.Batch
	st       Stats
	skipped  int
	err      error
}

// stopper holds the first reason to stop, shared by the batches in flight:
// when one fails, the other stops at its next slot boundary too.
type stopper struct {
	mu    sync.Mutex
	err   error
	batch int // the batch that stopped; 0 when the run loop did
}

// set records err unless a reason is already recorded, and returns the
// recorded one.
func (s *stopper) set(err error, batch int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err, s.batch = err, batch
	}
	return s.err
}

func (s *stopper) get() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *stopper) from() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batch
}

func (e *Executor) finish(res Result, start time.Time) Result {
	res.Duration = time.Since(start)
	return res
}

// runBatch runs one batch's moves concurrently. The first stop reason (an
// error, abort, interrupt, here or in the other batch in flight) makes every
// move stop at its next slot boundary. moveDone is closed when the first
// move finishes.
func (e *Executor) runBatch(ctx, ioCtx context.Context, mover Mover, b plan.Batch, owners [cluster.NumSlots]string, cur *currentGate, prog *progress, stop *stopper, moveDone chan struct{}) (report.Batch, Stats, int, error) {
	t0 := time.Now()
	rb := report.Batch{Number: b.Number, StartedAt: t0.UTC(), Status: report.Pass}
	for _, m := range b.Moves {
		rb.Moves = append(rb.Moves, report.Move{From: m.FromAddr, To: m.ToAddr, Start: m.Range.Start, End: m.Range.End, Batch: b.Number})
	}
	var (
		mu        sync.Mutex
		total     Stats
		skipped   int
		cut       bool // a move of this batch stopped short
		closeOnce sync.Once
	)
	defer closeOnce.Do(func() { close(moveDone) })
	var eg errgroup.Group
	eg.SetLimit(e.opts.Concurrency)
	for _, m := range b.Moves {
		eg.Go(func() error {
			next := func(slot int) error {
				if owners[slot] == m.To {
					mu.Lock()
					skipped++
					mu.Unlock()
					return ErrSkipSlot
				}
				if err := stop.get(); err != nil {
					return err
				}
				if err := e.boundary(ctx); err != nil {
					return stop.set(err, b.Number)
				}
				if d := cur.get(); d.Verdict == gate.Abort {
					return stop.set(fmt.Errorf("%w in batch %d at slot %d: %s", ErrAborted, b.Number, slot, d.Reason()), b.Number)
				}
				return nil
			}
			progress := func(d Stats) {
				prog.slots.Add(int64(d.Slots))
				prog.keys.Add(d.Keys)
			}
			st, err := mover.Move(ioCtx, m, Control{Next: next, Progress: progress})
			mu.Lock()
			total.Add(st)
			if err != nil {
				cut = true
			}
			mu.Unlock()
			if err != nil {
				stop.set(err, b.Number)
			}
			closeOnce.Do(func() { close(moveDone) })
			return nil
		})
	}
	_ = eg.Wait()
	rb.Slots, rb.Keys, rb.Bytes = total.Slots, total.Keys, total.Bytes
	rb.Duration = report.SecondsOf(time.Since(t0))
	var err error
	if cut {
		err = stop.get()
	}
	switch {
	case err == nil:
	case stop.from() != b.Number:
		// Cut short because the other batch in flight (or the run) stopped.
		rb.Status = report.Skip
		err = fmt.Errorf("batch %d stopped at a slot boundary: %w", b.Number, err)
	case errors.Is(err, ErrHeld):
		rb.Status = report.Hold
	case errors.Is(err, ErrAborted), errors.Is(err, ErrInterrupted):
		rb.Status = report.Skip
	default:
		rb.Status = report.Error
	}
	if err != nil {
		rb.Checks = append(rb.Checks, report.Check{ID: "rebalance.batch", Status: rb.Status, Message: err.Error(), Batch: b.Number})
	}
	return rb, total, skipped, err
}

// boundary is checked before each batch and each slot: interrupt, abort
// file, then the pause file (which blocks while it exists).
func (e *Executor) boundary(ctx context.Context) error {
	for {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrInterrupted, ctx.Err())
		}
		if e.opts.AbortFile != "" && exists(e.opts.AbortFile) {
			return fmt.Errorf("%w: abort file %s exists", ErrAborted, e.opts.AbortFile)
		}
		if e.opts.PauseFile == "" || !exists(e.opts.PauseFile) {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// currentGate rate-limits Gater.Current: between slots it is sampled at most
// every 100ms, which is what the probes' resolution allows anyway.
type currentGate struct {
	g    Gater
	mu   sync.Mutex
	at   time.Time
	last gate.Decision
}

func (c *currentGate) get() gate.Decision {
	if c.g == nil {
		return gate.Decision{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) >= 100*time.Millisecond {
		c.last, c.at = c.g.Current(), time.Now()
	}
	return c.last
}

func (e *Executor) startStatus(prog *progress, g Gater) func() {
	if e.opts.Status == nil && e.opts.OnProgress == nil {
		return func() {}
	}
	emit := func() {
		if g != nil {
			prog.gates.Store(g.Current().String())
		}
		s := prog.snapshot()
		if e.opts.Status != nil {
			fmt.Fprintln(e.opts.Status, s.String())
		}
		if e.opts.OnProgress != nil {
			e.opts.OnProgress(s)
		}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(e.opts.StatusInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				emit()
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		emit()
	}
}

// discover returns every master's address and the slot owners, from
// CLUSTER NODES of the first plan node that answers.
func (e *Executor) discover(ctx context.Context, p plan.Rebalance) ([]string, [cluster.NumSlots]string, error) {
	var owners [cluster.NumSlots]string
	var addrs []string
	for _, m := range p.Moves {
		addrs = append(addrs, m.FromAddr, m.ToAddr)
	}
	for _, b := range p.Batches {
		for _, m := range b.Moves {
			addrs = append(addrs, m.FromAddr, m.ToAddr)
		}
	}
	if len(addrs) == 0 {
		return e.opts.Masters, owners, nil
	}
	var errs []error
	for _, a := range addrs {
		text, err := e.pool.Client(a).ClusterNodes(ctx).Result()
		if err != nil {
			errs = append(errs, fmt.Errorf("CLUSTER NODES on %s: %w", a, err))
			continue
		}
		nodes, err := cluster.ParseNodes(text)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
			continue
		}
		masters := e.opts.Masters
		for _, n := range nodes {
			for _, s := range n.Slots.Slots() {
				owners[s] = n.ID
			}
			if len(e.opts.Masters) == 0 && n.IsMaster() && n.Addr != "" && !n.Failing() {
				masters = append(masters, n.Addr)
			}
		}
		return masters, owners, nil
	}
	return nil, owners, errors.Join(errs...)
}
