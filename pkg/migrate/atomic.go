package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/logkey"
	"github.com/slotshift/slotshift/pkg/plan"
)

// AtomicOptions tune the atomic mover. Zero values take the defaults.
type AtomicOptions struct {
	// Protocol is ProtocolRedisASM or ProtocolValkeyASM.
	Protocol Protocol
	// Concurrency is the most tasks running at once. Redis runs one task
	// per node at a time whatever this says. Default 4.
	Concurrency int
	// PollInterval is the longest wait between two status polls of a task
	// (polling starts faster). Default 20ms.
	PollInterval time.Duration
	// TaskTimeout cancels a task still unfinished after this long. Default 10m.
	TaskTimeout time.Duration
	// SlotStats counts each task's keys with one CLUSTER SLOT-STATS instead
	// of COUNTKEYSINSLOT per slot.
	SlotStats bool
	// Log receives task events. Default: discard.
	Log *slog.Logger
}

func (o AtomicOptions) withDefaults() AtomicOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	if o.TaskTimeout <= 0 {
		o.TaskTimeout = 10 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// asmProtocol is one server family's atomic slot migration commands.
type asmProtocol interface {
	// exclusive: a node takes part in one task at a time.
	exclusive() bool
	start(ctx context.Context, t Task) (handle string, err error)
	status(ctx context.Context, t Task, handle string) (taskStatus, error)
	cancel(ctx context.Context, t Task, handle string) error
}

// taskStatus is one poll of a task.
type taskStatus struct {
	State string
	Done  bool // a final state: completed, failed for good or cancelled
	OK    bool // done and the target owns the slots
	Msg   string
}

// Atomic moves slot ranges with the servers' own atomic slot migration:
// the target owns a task's whole ranges at once, or not at all. It is safe
// for concurrent use.
type Atomic struct {
	opts    AtomicOptions
	clients *admin.Pool
	proto   asmProtocol

	mu      sync.Mutex
	started map[string]int // tasks started per source address
	stalls  []string
}

// NewAtomic returns an atomic mover speaking opts.Protocol. Credentials
// come from pool's options.
func NewAtomic(pool *admin.Pool, opts AtomicOptions) (*Atomic, error) {
	opts = opts.withDefaults()
	o := pool.Options()
	clients := admin.NewPool(admin.Options{
		Username: o.Username, Password: o.Password, PasswordEnv: o.PasswordEnv, TLS: o.TLS,
		DialTimeout: o.DialTimeout, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		ContextTimeout: true, PoolSize: 8,
	})
	a := &Atomic{opts: opts, clients: clients, started: map[string]int{}}
	switch opts.Protocol {
	case ProtocolRedisASM:
		a.proto = redisASM{clients}
	case ProtocolValkeyASM:
		a.proto = valkeyASM{clients}
	default:
		_ = clients.Close()
		return nil, fmt.Errorf("atomic mover: protocol %q is not atomic", opts.Protocol)
	}
	return a, nil
}

// Close closes the mover's connections.
func (a *Atomic) Close() { _ = a.clients.Close() }

// Protocol implements TaskMover.
func (a *Atomic) Protocol() Protocol { return a.opts.Protocol }

// Stalls lists the tasks that waited for a source's snapshot child of an
// earlier task, with how long.
func (a *Atomic) Stalls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.stalls...)
}

// Move implements Mover: m's range as one task.
func (a *Atomic) Move(ctx context.Context, m plan.Move, ctl Control) (Stats, error) {
	t := Task{From: m.From, To: m.To, FromAddr: m.FromAddr, ToAddr: m.ToAddr, Ranges: []cluster.Range{m.Range}}
	tc := TaskControl{Progress: ctl.Progress}
	if ctl.Next != nil {
		tc.Next = func(t Task) error { return ctl.Next(t.Ranges[0].Start) }
	}
	return a.MoveTasks(ctx, []Task{t}, tc)
}

type taskResult struct {
	t   Task
	st  Stats
	err error
}

// MoveTasks implements TaskMover. Tasks start in order, as many at once as
// Concurrency allows and, for Redis, only while neither of their nodes runs
// another; among the tasks that may start, one whose source has sent the
// fewest tasks goes first (a source's second task right after its first
// waits for the first's snapshot child). The first error starts no further
// task; ctl.Stop cancels the running ones.
func (a *Atomic) MoveTasks(ctx context.Context, tasks []Task, ctl TaskControl) (Stats, error) {
	var total Stats
	var firstErr error
	pending := append([]Task(nil), tasks...)
	busy := map[string]bool{}
	results := make(chan taskResult)
	running := 0
	for len(pending) > 0 || running > 0 {
		i := -1
		if firstErr == nil && running < a.opts.Concurrency {
			i = a.pick(pending, busy)
		}
		if i >= 0 {
			t := pending[i]
			if ctl.Next != nil {
				if err := ctl.Next(t); err != nil {
					firstErr, pending = err, nil
					continue
				}
			}
			pending = append(pending[:i:i], pending[i+1:]...)
			busy[t.FromAddr], busy[t.ToAddr] = true, true
			running++
			a.mu.Lock()
			a.started[t.FromAddr]++
			a.mu.Unlock()
			go func() {
				st, err := a.runTask(ctx, t, ctl.Stop)
				results <- taskResult{t, st, err}
			}()
			continue
		}
		if running == 0 {
			break // the first error dropped what was pending
		}
		r := <-results
		running--
		delete(busy, r.t.FromAddr)
		delete(busy, r.t.ToAddr)
		total.Add(r.st)
		if ctl.Progress != nil && r.st.Slots > 0 {
			ctl.Progress(r.st)
		}
		if r.err != nil && firstErr == nil {
			firstErr, pending = r.err, nil
		}
	}
	return total, firstErr
}

// pick returns the index of the pending task to start next, or -1.
func (a *Atomic) pick(pending []Task, busy map[string]bool) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	best := -1
	for i, t := range pending {
		if a.proto.exclusive() && (busy[t.FromAddr] || busy[t.ToAddr]) {
			continue
		}
		if best < 0 || a.started[t.FromAddr] < a.started[pending[best].FromAddr] {
			best = i
		}
	}
	return best
}

// runTask starts t and polls it until it ends; stop cancels it.
func (a *Atomic) runTask(ctx context.Context, t Task, stop func() error) (Stats, error) {
	keys, err := a.countKeys(ctx, t)
	if err != nil {
		return Stats{}, err
	}
	if a.proto.exclusive() {
		a.waitNoChild(ctx, t)
	}
	t0 := time.Now()
	h, err := a.startRetry(ctx, t, stop)
	if err != nil {
		return Stats{}, err
	}
	a.opts.Log.Debug("task started", logkey.Node, t.FromAddr, "target", t.ToAddr, "ranges", rangesText(t.Ranges), "handle", h)
	done := Stats{Slots: t.Slots(), Keys: keys}
	wait := time.Millisecond
	for {
		if stop != nil {
			if serr := stop(); serr != nil {
				st, cerr := a.cancelAndWait(ctx, t, h)
				if cerr != nil {
					return Stats{}, errors.Join(serr, cerr)
				}
				if st.OK { // finished before the cancel arrived: whole, not half
					return done, serr
				}
				return Stats{}, serr
			}
		}
		st, err := a.proto.status(ctx, t, h)
		if err != nil {
			return Stats{}, fmt.Errorf("task %s→%s %s: %w", t.FromAddr, t.ToAddr, rangesText(t.Ranges), err)
		}
		if st.Done {
			if !st.OK {
				return Stats{}, fmt.Errorf("task %s→%s %s ended %s: %s", t.FromAddr, t.ToAddr, rangesText(t.Ranges), st.State, st.Msg)
			}
			a.opts.Log.Debug("task done", logkey.Node, t.FromAddr, "target", t.ToAddr, logkey.Duration, time.Since(t0))
			return done, nil
		}
		if time.Since(t0) > a.opts.TaskTimeout {
			_, cerr := a.cancelAndWait(ctx, t, h)
			return Stats{}, errors.Join(fmt.Errorf("task %s→%s %s still %s after %s: cancelled", t.FromAddr, t.ToAddr, rangesText(t.Ranges), st.State, a.opts.TaskTimeout), cerr)
		}
		_ = sleep(ctx, wait)
		wait = min(2*wait, a.opts.PollInterval)
	}
}

// startRetry starts t, retrying while a node still runs a task this run
// does not know of (e.g. one left by a killed run, or finishing).
func (a *Atomic) startRetry(ctx context.Context, t Task, stop func() error) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, err := a.proto.start(ctx, t)
		if err == nil {
			return h, nil
		}
		busy := strings.Contains(err.Error(), "already in progress") || strings.Contains(err.Error(), "already migrating") ||
			strings.Contains(err.Error(), "already being imported")
		if !busy || time.Now().After(deadline) {
			return "", fmt.Errorf("start task %s→%s %s: %w%s", t.FromAddr, t.ToAddr, rangesText(t.Ranges), err, openSlotHint(err))
		}
		if stop != nil {
			if serr := stop(); serr != nil {
				return "", serr
			}
		}
		_ = sleep(ctx, 50*time.Millisecond)
	}
}

// openSlotHint explains the servers' refusal while a legacy open slot exists.
func openSlotHint(err error) string {
	s := strings.ToLower(err.Error())
	if strings.Contains(s, "manually") || strings.Contains(s, "importing") || strings.Contains(s, "migrating") {
		return " (a slot is open from the legacy protocol: run rebalance again to close it first)"
	}
	return ""
}

// cancelAndWait cancels t and waits (up to 30s) for its final state.
func (a *Atomic) cancelAndWait(ctx context.Context, t Task, h string) (taskStatus, error) {
	if err := a.proto.cancel(ctx, t, h); err != nil {
		return taskStatus{}, fmt.Errorf("cancel task %s→%s: %w", t.FromAddr, t.ToAddr, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := a.proto.status(ctx, t, h)
		if err != nil {
			return st, err
		}
		if st.Done {
			a.opts.Log.Info("task cancelled", logkey.Node, t.FromAddr, "target", t.ToAddr, "state", st.State)
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("task %s→%s still %s 30s after CANCEL", t.FromAddr, t.ToAddr, st.State)
		}
		_ = sleep(ctx, 10*time.Millisecond)
	}
}

// waitNoChild waits (up to 10s) until t's source has no snapshot child of
// an earlier task left: Redis delays a new slot snapshot while a child is
// alive and then starts it only after repl-diskless-sync-delay (5s by
// default). The wait is recorded as a stall when it is long.
func (a *Atomic) waitNoChild(ctx context.Context, t Task) {
	a.mu.Lock()
	first := a.started[t.FromAddr] <= 1
	a.mu.Unlock()
	if first {
		return
	}
	t0 := time.Now()
	c := a.clients.Client(t.FromAddr)
	for time.Since(t0) < 10*time.Second {
		info, err := c.Info(ctx, "persistence").Result()
		if err != nil || !strings.Contains(info, "rdb_bgsave_in_progress:1") {
			break
		}
		_ = sleep(ctx, 5*time.Millisecond)
	}
	if d := time.Since(t0); d > 100*time.Millisecond {
		a.mu.Lock()
		a.stalls = append(a.stalls, fmt.Sprintf("%s waited %.2fs for the snapshot child of its previous task", t.FromAddr, d.Seconds()))
		a.mu.Unlock()
	}
}

// countKeys counts the keys t moves, on its source, before it starts.
func (a *Atomic) countKeys(ctx context.Context, t Task) (int64, error) {
	c := a.clients.Client(t.FromAddr)
	var n int64
	if a.opts.SlotStats {
		for _, r := range t.Ranges {
			v, err := c.Do(ctx, "CLUSTER", "SLOT-STATS", "SLOTSRANGE", r.Start, r.End).Result()
			if err != nil {
				return 0, fmt.Errorf("slot-stats on %s: %w", t.FromAddr, err)
			}
			for _, row := range SlotStatsKeyCounts(v) {
				n += row
			}
		}
		return n, nil
	}
	var slots []int
	for _, r := range t.Ranges {
		for s := r.Start; s <= r.End; s++ {
			slots = append(slots, s)
		}
	}
	counts, err := a.clients.CountKeysInSlots(ctx, t.FromAddr, slots)
	if err != nil {
		return 0, fmt.Errorf("count keys: %w", err)
	}
	for _, c := range counts {
		n += c
	}
	return n, nil
}

// SlotStatsKeyCounts reads the key-count of each slot from a CLUSTER
// SLOT-STATS reply (RESP2: [[slot, [name, value, ...]], ...]), by slot.
func SlotStatsKeyCounts(reply any) map[int]int64 {
	out := map[int]int64{}
	rows, _ := reply.([]any)
	for _, r := range rows {
		row, ok := r.([]any)
		if !ok || len(row) != 2 {
			continue
		}
		slot, ok := row[0].(int64)
		if !ok {
			continue
		}
		if v, ok := pairs(row[1])["key-count"]; ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			out[int(slot)] = n
		}
	}
	return out
}

// pairs reads a RESP2 map (a flat array of names and values) as strings.
func pairs(v any) map[string]string {
	out := map[string]string{}
	a, _ := v.([]any)
	for i := 0; i+1 < len(a); i += 2 {
		k, _ := a[i].(string)
		out[strings.ToLower(k)] = fmt.Sprint(a[i+1])
	}
	return out
}

func rangesText(rs []cluster.Range) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d-%d", r.Start, r.End)
	}
	return strings.Join(parts, ",")
}
