package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
)

// ErrCleanup is returned by Stop (with a complete Result) when deleting
// the run's keys after the read-back failed.
var ErrCleanup = errors.New("load: deleting the keys")

// Result is what a load run did and what its read-back found.
type Result struct {
	Options   Options // with defaults applied; BeforeVerify is dropped
	Run       string  // the run id in every value
	StartedAt time.Time
	Elapsed   time.Duration // the load phase

	Ops, Reads, Writes int64
	WritesAcked        int64
	// WritesUnknown counts the writes that failed: their outcome is
	// unknown (go-redis may have retried an attempt whose reply was lost,
	// so even a refusal does not prove the write was not applied).
	WritesUnknown int64
	// Moved and Ask count the redirects the client followed; they are not
	// errors.
	Moved, Ask int64
	Errors     map[Kind]int64
	Latency    Latency
	Seconds    []Second
	// Spans are the latencies between Mark calls (not serialised).
	Spans  Spans `json:"-"`
	Verify Verify
}

// ErrorCount is the number of failed operations (redirects followed are
// not failures).
func (r Result) ErrorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// Generator runs load in the background: New, Start, then Stop, which ends
// the load phase (if Duration, MaxOps or the context have not yet), reads
// every acknowledged key back and returns the Result.
type Generator struct {
	opts  Options
	codec codec
	cc    *redis.ClusterClient

	state [][]keyState // per client, its keys in order (key = client + j*Clients)

	ops, reads, writes, acked, unknown atomic.Int64
	readsMissing, readsStale           atomic.Int64
	moved, ask                         atomic.Int64

	rec     *recorder
	onWrite func(Write) // see OnWrite
	started time.Time
	elapsed time.Duration
	stop    chan struct{} // closed by Stop
	done    chan struct{} // closed when every client has returned
	wg      sync.WaitGroup

	startOnce sync.Once
	result    Result
	err       error
	finished  sync.Once
}

// New validates opts and builds the generator and its cluster client. It
// does not connect yet.
func New(opts Options) (*Generator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	var id [4]byte
	_, _ = rand.Read(id[:])
	g := &Generator{
		opts:  o,
		codec: codec{run: hex.EncodeToString(id[:]), min: o.ValueMin, max: o.ValueMax},
		state: make([][]keyState, o.Clients),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for w := range o.Clients {
		g.state[w] = make([]keyState, (o.Keys-w+o.Clients-1)/o.Clients)
	}
	g.cc = admin.NewClusterClient(
		admin.ClusterOptions{Seeds: o.Seeds, MaxRedirects: o.MaxRedirects},
		admin.Options{Username: o.Username, Password: o.Password, TLS: o.TLS, DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, PoolSize: o.Clients},
	)
	g.cc.OnNewNode(func(c *redis.Client) { c.AddHook(redirectHook{g}) })
	return g, nil
}

// Run runs a whole load: the load phase until Duration, MaxOps or ctx ends
// it, then the read-back (on a fresh context bounded by VerifyTimeout, so it
// happens after a cancellation too).
func Run(ctx context.Context, opts Options) (Result, error) {
	g, err := New(opts)
	if err != nil {
		return Result{}, err
	}
	g.Start(ctx)
	<-g.Done()
	return g.Stop()
}

// Start starts the clients; the load phase ends after Duration, MaxOps, when
// ctx ends, or at Stop. Calls after the first do nothing.
func (g *Generator) Start(ctx context.Context) {
	g.startOnce.Do(func() {
		g.started = time.Now()
		g.rec = newRecorder(g.started, g.opts.OnSecond)
		run, cancel := context.WithTimeout(ctx, g.opts.Duration)
		// In-flight operations finish (bounded by ReadTimeout) when the
		// run ends, so that a write's outcome is known whenever possible.
		opCtx := context.WithoutCancel(ctx)
		for w := range g.opts.Clients {
			g.wg.Add(1)
			go g.client(run, opCtx, w)
		}
		go func() {
			g.wg.Wait()
			cancel()
			g.elapsed = time.Since(g.started)
			close(g.done)
		}()
	})
}

// Mark ends the current span of the run and starts the next (see
// Result.Spans): a caller that changes what the cluster does, such as a
// benchmark starting a rebalance, marks it to read the latency of each
// phase exactly. Calls before Start or after Stop do nothing.
func (g *Generator) Mark() {
	select {
	case <-g.stop:
		return
	default:
	}
	if g.rec != nil {
		g.rec.mark(time.Now())
	}
}

// Done is closed when the load phase has ended.
func (g *Generator) Done() <-chan struct{} { return g.done }

// Stop ends the load phase, waits for the clients, reads every
// acknowledged key back, deletes the keys unless KeepKeys, closes the
// client and returns the result. It may be called more than once; later
// calls return the first call's result. Stop without Start returns an
// error.
func (g *Generator) Stop() (Result, error) {
	g.finished.Do(func() {
		defer func() { _ = g.cc.Close() }()
		g.startOnce.Do(func() { close(g.done) }) // never started: nothing to wait for
		if g.rec == nil {
			g.err = errors.New("load: Stop before Start")
			return
		}
		close(g.stop)
		<-g.done
		g.result, g.err = g.finish()
	})
	return g.result, g.err
}

func (g *Generator) finish() (Result, error) {
	series, lat, errs, spans := g.rec.finish(g.started.Add(g.elapsed))
	opts := g.opts
	opts.BeforeVerify, opts.OnSecond, opts.Password = nil, nil, ""
	res := Result{
		Options: opts, Run: g.codec.run, StartedAt: g.started, Elapsed: g.elapsed,
		Ops: g.ops.Load(), Reads: g.reads.Load(), Writes: g.writes.Load(),
		WritesAcked: g.acked.Load(), WritesUnknown: g.unknown.Load(),
		Moved: g.moved.Load(), Ask: g.ask.Load(),
		Errors: errs, Latency: lat, Seconds: series, Spans: spans,
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.VerifyTimeout)
	defer cancel()
	if g.opts.BeforeVerify != nil {
		if err := g.opts.BeforeVerify(ctx, g.ackedKeys()); err != nil {
			return res, fmt.Errorf("load: before the read-back: %w", err)
		}
	}
	res.Verify = g.verify(ctx)
	res.Verify.ReadsMissing, res.Verify.ReadsStale = g.readsMissing.Load(), g.readsStale.Load()
	if !g.opts.KeepKeys {
		if err := g.cleanup(ctx); err != nil {
			return res, fmt.Errorf("%w: %w", ErrCleanup, err)
		}
	}
	return res, nil
}

// key returns the name of key i.
func (g *Generator) key(i int) string { return g.opts.Prefix + strconv.Itoa(i) }

// client is one client goroutine: it owns keys w, w+Clients, ... and runs
// one operation at a time until the run ends.
func (g *Generator) client(run, opCtx context.Context, w int) {
	defer g.wg.Done()
	keys := g.state[w]
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
	var interval time.Duration
	if g.opts.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(g.opts.Clients) / float64(g.opts.Rate))
	}
	next := time.Now()
	for {
		if interval > 0 && !g.pace(run, &next, interval) {
			return
		}
		select {
		case <-run.Done():
			return
		case <-g.stop:
			return
		default:
		}
		if n := g.ops.Add(1); g.opts.MaxOps > 0 && n > g.opts.MaxOps {
			g.ops.Add(-1)
			return
		}
		j := rng.IntN(len(keys))
		i := w + j*g.opts.Clients
		if rng.IntN(100) < g.opts.ReadPercent {
			g.read(opCtx, i, keys[j])
		} else {
			g.write(opCtx, i, &keys[j])
		}
	}
}

// pace waits until next, then moves next on by interval; a client that
// fell more than a second behind does not burst to catch up. It returns
// false when the run ended while waiting.
func (g *Generator) pace(run context.Context, next *time.Time, interval time.Duration) bool {
	now := time.Now()
	if now.Sub(*next) > time.Second {
		*next = now
	}
	if d := next.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-run.Done():
			return false
		case <-g.stop:
			return false
		}
	}
	*next = next.Add(interval)
	return true
}

func (g *Generator) write(ctx context.Context, i int, st *keyState) {
	g.writes.Add(1)
	st.attempted++
	v := st.attempted
	ctx, redirected := withRedirects(ctx)
	start := time.Now()
	err := g.cc.Set(ctx, g.key(i), g.codec.value(i, v), 0).Err()
	end := time.Now()
	if err == nil {
		st.acked = v
		g.acked.Add(1)
	} else {
		g.unknown.Add(1)
	}
	kind := Classify(err)
	g.rec.record(end, end.Sub(start), kind, redirected.Load())
	if g.onWrite != nil {
		g.onWrite(Write{Start: start, End: end, Acked: err == nil, Kind: kind})
	}
}

func (g *Generator) read(ctx context.Context, i int, st keyState) {
	g.reads.Add(1)
	ctx, redirected := withRedirects(ctx)
	start := time.Now()
	val, err := g.cc.Get(ctx, g.key(i)).Result()
	end := time.Now()
	g.rec.record(end, end.Sub(start), Classify(err), redirected.Load())
	if err != nil && !errors.Is(err, redis.Nil) {
		return
	}
	switch g.codec.judge(i, st, val, err == nil) {
	case verdictLost:
		g.readsMissing.Add(1)
	case verdictStale, verdictForeign:
		g.readsStale.Add(1)
	}
}

// redirectsKey carries, in an operation's context, the flag that
// redirectHook sets when the operation meets a MOVED or ASK reply.
type redirectsKey struct{}

// withRedirects returns ctx with a fresh redirect flag for one operation.
func withRedirects(ctx context.Context) (context.Context, *atomic.Bool) {
	var b atomic.Bool
	return context.WithValue(ctx, redirectsKey{}, &b), &b
}

// redirectHook counts the MOVED and ASK replies of one node's client, and
// flags the operation they answered (see withRedirects); the cluster
// client follows them.
type redirectHook struct{ g *Generator }

func (h redirectHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redirectHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.count(ctx, err)
		return err
	}
}

func (h redirectHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			h.count(ctx, c.Err())
		}
		return err
	}
}

func (h redirectHook) count(ctx context.Context, err error) {
	if err == nil {
		return
	}
	if _, ok := redis.IsMovedError(err); ok {
		h.g.moved.Add(1)
	} else if _, ok := redis.IsAskError(err); ok {
		h.g.ask.Add(1)
	} else {
		return
	}
	if b, ok := ctx.Value(redirectsKey{}).(*atomic.Bool); ok {
		b.Store(true)
	}
}
