package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/logkey"
	"github.com/slotshift/slotshift/pkg/plan"
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
	// KeysTotal is how many keys the plan moves, when the servers count
	// them per slot (CLUSTER SLOT-STATS); with an atomic mover the ETA is
	// then by keys rather than by slots. 0 = unknown.
	KeysTotal int64
	// ListFrom maps a master to a replica the legacy mover lists its keys
	// on (see LegacyOptions.ListFrom). Nil: every listing runs on the source.
	ListFrom map[string]string
	// Pacer, when set, paces the legacy mover's sources by their latency
	// (see LegacyOptions.Pacer) and changes what holds a batch: see
	// waitGates. Nil: no pacing, the gates alone decide.
	Pacer *Pacer
	// Rebaseline, when set, measures again the latency baseline the
	// pacer's budgets are relative to; see waitGates. Nil: never.
	Rebaseline func(ctx context.Context) error
	// RebaselineAfter is how long an exhausted hold with nothing in flight
	// lasts before Rebaseline is called. Default 2s.
	RebaselineAfter time.Duration
	// HoldTimeout is how long a hold on an exhausted pace (see Pace.Exhausted)
	// may last before the run stops with ErrHeld; the gates' own holds time
	// out in the Gater. Default 10m.
	HoldTimeout time.Duration
	// Log receives batch events. Default: discard.
	Log *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.RebaselineAfter <= 0 {
		o.RebaselineAfter = 2 * time.Second
	}
	if o.HoldTimeout <= 0 {
		o.HoldTimeout = 10 * time.Minute
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
	Batches []BatchResult
	Stats       // what every batch's moves did
	Skipped int // slots already on their target
	// BatchesRemaining counts the plan's batches not done.
	BatchesRemaining int
	Done             bool
	// Gate is the last gate decision taken.
	Gate gate.Decision
	// Pace is what the pacer did; nil without one.
	Pace *PaceSummary
	// ListedOnReplicas counts, per replica, the slot groups whose keys the
	// legacy mover listed there instead of on their master (ListFrom).
	ListedOnReplicas map[string]int
	// Holds and Held count, with a Pacer, the stops at a batch or slot
	// boundary, on the gates or on an exhausted pace (see waitGates): how
	// often some move waited there, and for how long in all. Moves parked
	// at once each wait, so spans that overlap count once; the Gater's own
	// count adds them up, and the pace's waits are not the Gater's at all.
	// Without a Pacer only the run's loop waits: both are 0, and the
	// Gater's count is the run's.
	Holds    int
	Held     time.Duration
	Duration time.Duration
}

// Run executes p's batches in order. Before each batch it waits on g (nil:
// no gates): a hold that outlasts the hold timeout stops the run with
// ErrHeld, an abort with ErrAborted. Within a batch, the abort file, an
// abort verdict from g.Current and ctx's cancellation stop the run at a slot
// boundary: slots in flight are finished, no new slot is opened. Slots the
// target already owns are skipped, so a plan can be resumed after Repair.
//
// Batches overlap by at most one: once a move of batch N has finished, or
// every move of N has opened its slots and is moving keys while its
// sources send at full duty (see fullDuty), the gates are checked and
// batch N+1 starts. Its slots are listed and opened while N's keys
// drain, and its keys move as soon as a source's stream is free, so
// neither a source nor the target waits on the other batch's SETSLOTs (the
// mover bounds the streams per node, so the overlap adds no load on any
// node, only removes idle time). Batch N+2 waits for N to finish. With
// PauseBetweenBatches set, batches do not overlap.
func (e *Executor) Run(ctx context.Context, p plan.Rebalance, g Gater) (Result, error) {
	start := time.Now()
	masters, owners, err := e.discover(ctx, p)
	if err != nil {
		return Result{BatchesRemaining: len(p.Batches)}, err
	}
	mover, closeMover := e.mover(masters)
	defer closeMover()
	r := &run{
		e:   e,
		ctx: ctx,
		// In-flight slots must finish even after ctx is cancelled; they get
		// a context that is never cancelled, and stop only at slot
		// boundaries.
		ioCtx:  context.WithoutCancel(ctx),
		mover:  mover,
		owners: owners,
		gater:  g,
		gates:  &currentGate{g: g},
		prog:   newProgress(start, p),
		stop:   &stopper{},
		res:    Result{BatchesRemaining: len(p.Batches)},
	}
	r.prog.pacer = e.opts.Pacer
	if _, ok := mover.(TaskMover); ok {
		r.prog.keysTotal = e.opts.KeysTotal
	}
	stopStatus := e.startStatus(r.prog, g)
	defer stopStatus()
	runErr := r.schedule(p.Batches)
	for len(r.inflight) > 0 {
		r.collect()
	}
	r.res.Duration = time.Since(start)
	if l, ok := mover.(*Legacy); ok {
		r.res.ListedOnReplicas = l.ReplicaListings()
	}
	if e.opts.Pacer != nil {
		s := e.opts.Pacer.Summary()
		r.res.Pace = &s
	}
	r.res.Holds, r.res.Held = r.holds.get()
	if err := r.stop.get(); err != nil {
		return r.res, err
	}
	if runErr != nil {
		return r.res, runErr
	}
	r.res.Done = r.res.BatchesRemaining == 0
	return r.res, nil
}

// mover returns Options.Mover, or a legacy mover for masters and the
// function that closes it.
func (e *Executor) mover(masters []string) (Mover, func()) {
	if e.opts.Mover != nil {
		return e.opts.Mover, func() {}
	}
	l := NewLegacy(e.pool, masters, LegacyOptions{
		KeysPerMigrate: e.opts.KeysPerMigrate, BytesPerMigrate: e.opts.BytesPerMigrate,
		MigrateTimeout: e.opts.MigrateTimeout, BigKeyBytes: e.opts.BigKeyBytes,
		SlotsInFlight: e.opts.SlotsInFlight, GroupsInFlight: e.opts.GroupsInFlight,
		BeforeStep: e.opts.BeforeStep, Log: e.opts.Log, Pacer: e.opts.Pacer,
		ListFrom: e.opts.ListFrom,
	})
	return l, l.Close
}

// run is the state of one Executor.Run. Only the goroutine of Run touches
// res and inflight; the batches in flight share the rest.
type run struct {
	e      *Executor
	ctx    context.Context // cancelled by SIGINT/SIGTERM: stop at a boundary
	ioCtx  context.Context // never cancelled: what slots in flight run under
	mover  Mover
	owners [cluster.NumSlots]string // slot -> owner id when the run began
	gater  Gater                    // nil: no gates
	gates  *currentGate             // gater.Current, rate-limited
	prog   *progress
	stop   *stopper

	res      Result
	inflight []*batchRun // oldest first; at most two

	// holds counts the holds at a boundary (see Result.Holds).
	holds holdSpans
	// baseMu serialises measuring the baseline again; rebaselined is when
	// the last such measurement ended (see run.rebaseline).
	baseMu      sync.Mutex
	rebaselined time.Time
}

// schedule starts the batches in order, each once there is room for it and
// the gates let it in, and returns why it started no further batch (nil
// when it started them all, or MaxBatches).
func (r *run) schedule(batches []plan.Batch) error {
	opts := r.e.opts
	for i, b := range batches {
		if opts.MaxBatches > 0 && i >= opts.MaxBatches {
			return nil
		}
		r.makeRoom()
		if r.stop.get() != nil {
			return nil
		}
		if i > 0 && !r.overlap() {
			_ = sleep(r.ctx, opts.PauseBetweenBatches) // boundary reports the interrupt
		}
		d, err := r.admit(b)
		if err != nil {
			return err
		}
		if r.stop.get() != nil {
			return nil
		}
		r.start(b, d)
	}
	return nil
}

// overlap tells whether a batch may start before the previous one ends.
func (r *run) overlap() bool { return r.e.opts.PauseBetweenBatches <= 0 }

// makeRoom waits until the next batch may start: with two batches in
// flight (or one, without overlap) for the oldest to finish, then for the
// one left to finish a move, or to be streaming (see batchRun.streaming)
// while its sources send at full duty.
func (r *run) makeRoom() {
	if len(r.inflight) == 2 || (len(r.inflight) == 1 && !r.overlap()) {
		r.collect()
	}
	if len(r.inflight) == 1 {
		b := r.inflight[0]
		select {
		case <-b.moveDone:
		case <-b.done:
		case <-b.streaming:
			if !r.fullDuty(b.b.Moves) {
				select {
				case <-b.moveDone:
				case <-b.done:
				}
			}
		}
	}
}

// fullDuty reports whether every source of moves sends without resting
// (always, without a pacer; a source the pacer has not paced yet counts as
// resting, and an exhausted pace rests the most). Only then is a source's
// stream what limits it, and worth feeding with the next batch's slots
// early: a source that rests between pipelines gains nothing from slots
// opened ahead, which would only stay open, and send clients ASKs, for
// longer.
func (r *run) fullDuty(moves []plan.Move) bool {
	p := r.e.opts.Pacer
	if p == nil {
		return true
	}
	for _, a := range sourcesOf(moves) {
		if pc, ok := p.Last(a); !ok || pc.Rest > 0 {
			return false
		}
	}
	return true
}

// admit checks the boundary (interrupt, abort file, pause file) and waits
// on the gates before batch b. It returns the decision that let b in, or
// why b may not start.
func (r *run) admit(b plan.Batch) (gate.Decision, error) {
	if err := r.e.boundary(r.ctx); err != nil {
		return gate.Decision{}, r.stop.set(err, 0)
	}
	if r.gater == nil {
		return gate.Decision{}, nil
	}
	d, err := r.waitGates(r.ctx, r.moves(b.Moves))
	r.res.Gate = d
	r.prog.gates.Store(d.String())
	switch {
	case errors.Is(err, gate.ErrHoldTimeout), errors.Is(err, gate.ErrWindowClosed):
		// A hold stops new batches; the one in flight was let in by the
		// gates and finishes.
		return d, fmt.Errorf("%w before batch %d: %s", ErrHeld, b.Number, d.Reason())
	case r.ctx.Err() != nil:
		return d, r.stop.set(fmt.Errorf("%w before batch %d: %w", ErrInterrupted, b.Number, r.ctx.Err()), 0)
	case err != nil:
		return d, r.stop.set(fmt.Errorf("gates before batch %d: %w", b.Number, err), 0)
	case d.Verdict == gate.Abort:
		return d, r.stop.set(fmt.Errorf("%w before batch %d: %s", ErrAborted, b.Number, d.Reason()), 0)
	}
	return d, nil
}

// start runs batch b in the background; d is the decision that let it in.
func (r *run) start(b plan.Batch, d gate.Decision) {
	r.prog.batch.Store(int64(b.Number))
	br := newBatchRun(r, b, d)
	r.inflight = append(r.inflight, br)
	go br.execute()
}

// collect waits for the oldest batch in flight and adds it to the result.
func (r *run) collect() {
	br := r.inflight[0]
	r.inflight = r.inflight[1:]
	<-br.done
	b := br.res
	r.res.Batches = append(r.res.Batches, b)
	r.res.Stats.Add(b.Stats)
	r.res.Skipped += b.Skipped
	if b.State == BatchDone {
		r.res.BatchesRemaining--
		r.e.opts.Log.Info("batch done", logkey.Batch, b.Number, "slots", b.Slots, "keys", b.Keys, logkey.Duration, b.Duration)
	}
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
		_ = sleep(ctx, 200*time.Millisecond) // the next round reports the interrupt
	}
}

// sleep waits d, or until ctx is done; then it returns ctx's error.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
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
		nodes, err := e.pool.ClusterNodes(ctx, a)
		if err != nil {
			errs = append(errs, err)
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
