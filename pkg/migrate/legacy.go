package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/logkey"
	"github.com/slotshift/slotshift/pkg/plan"
)

// Steps of the per-slot protocol, as passed to LegacyOptions.BeforeStep.
const (
	StepImporting  = "importing"
	StepMigrating  = "migrating"
	StepKeys       = "keys"
	StepNodeTarget = "node-target"
	StepNodeSource = "node-source"
	StepNodeOthers = "node-others"
)

// ErrSkipSlot, returned by Control.Next, skips one slot and goes on (the
// executor uses it for slots the target already owns).
var ErrSkipSlot = errors.New("skip slot")

// Stats counts what a move did.
type Stats struct {
	Slots    int   `json:"slots"`    // slots closed on the target
	Keys     int64 `json:"keys"`     // keys sent with MIGRATE
	Bytes    int64 `json:"bytes"`    // MEMORY USAGE of those keys, partly estimated (LegacyOptions.SizeEvery); 0 when sizes are not measured
	Replaced int64 `json:"replaced"` // keys re-sent with REPLACE after BUSYKEY
}

// Add adds o to s.
func (s *Stats) Add(o Stats) {
	s.Slots += o.Slots
	s.Keys += o.Keys
	s.Bytes += o.Bytes
	s.Replaced += o.Replaced
}

// Control lets the caller steer a move at slot boundaries.
type Control struct {
	// Next is called before each slot is opened, in slot order. It may block
	// (a pause). ErrSkipSlot skips the slot; any other error stops the move:
	// slots already opened are finished, no other is opened, and Move returns
	// that error. Nil Next always goes on.
	Next func(slot int) error
	// Progress receives the stats of each group of slots as it closes.
	Progress func(delta Stats)
	// Streaming, when set, is called once the move has opened every slot
	// it will open and each of its slot groups has begun moving keys (or
	// ended): all that is left is draining them and closing. The executor
	// then opens the next batch's slots while these drain. A mover that
	// never calls it is waited for until it returns.
	Streaming func()
}

// Mover moves the slots of one plan.Move from its source to its target. The
// legacy key-by-key protocol is the one implementation today; server-side
// atomic slot migration can be another.
type Mover interface {
	Move(ctx context.Context, m plan.Move, ctl Control) (Stats, error)
}

// LegacyOptions tune the legacy mover. Zero values take the defaults.
type LegacyOptions struct {
	// KeysPerMigrate is the most keys per GETKEYSINSLOT and per MIGRATE.
	// Default 1000.
	KeysPerMigrate int
	// BytesPerMigrate caps the bytes (MEMORY USAGE) per MIGRATE. Default 4 MiB;
	// negative disables the byte cap.
	BytesPerMigrate int64
	// MigrateTimeout is MIGRATE's base timeout; it grows by 1s per MiB of
	// the batch. Default 10s.
	MigrateTimeout time.Duration
	// BigKeyBytes is the largest key moved; a slot holding a bigger one is not
	// opened and the move stops with *ErrBigKey. Default 512 MiB; negative
	// disables the check. Key sizes are measured with MEMORY USAGE only
	// when this or BytesPerMigrate is enabled.
	BigKeyBytes int64
	// SizeEvery: while the keys of a source are all small, one key in
	// SizeEvery of each slot, the first included, is measured, and the
	// others are taken to be as large as the largest measured key of their
	// slot. Small: no key of the source can be over BigKeyBytes (all the
	// listed node's memory is under half of it, or the check is off), and
	// no key measured on it in this run was over its share of the byte cap
	// (BytesPerMigrate/KeysPerMigrate): below that share no MIGRATE can
	// pass the cap. Once one is, the listing is done again and every key
	// of that source is measured from then on. Default 8; 1 measures every
	// key.
	//
	// Why: the listing node spent 88us per slot of 61 small keys listing
	// and measuring each in a script, against 5.7us listing alone
	// (GETKEYSINSLOT) and 8 MEMORY USAGE calls on top (see listChunk). On
	// the benchmark's two cores the independent client's p99 read 3.23x
	// and 3.18x its p99 at rest with sampled sizes, against 3.43-4.46x
	// (four runs) measuring every key, at a fixed pace (one source at a
	// time, 10 keys per MIGRATE, a rest of half the time each took;
	// redis-cli 2.05-2.87x in the same sittings). A source with many keys
	// over the share shows one within its first few slots; until then a
	// large key may go in a MIGRATE with small ones rather than alone,
	// which adds little to the time its own MIGRATE blocks the source.
	SizeEvery int
	// SlotsInFlight is how many slots go through each step in one pipeline.
	// Default 128. The pacer leaves it alone: groups of 4 slots at the
	// slowest pace (measured, seed gates) took 98 and 114 s against 64 and
	// 63 s with 128, and held 80 and 118 times against 12 and 23: every
	// group's SETSLOT NODE saves both nodes' cluster config and is
	// gossiped, which costs the nodes more than the ASKs a smaller group
	// spares clients.
	SlotsInFlight int
	// MigratesPerPipeline caps the MIGRATE calls sent in one pipeline.
	// MIGRATE blocks the source until the target has restored the keys, and
	// Redis runs a client's queued commands back to back: a deep pipeline
	// makes other clients of the source wait for all of it. Default 2
	// (measured: p99 PING latency on the sources half that with 4, at the
	// same throughput once a third stream runs into the target).
	MigratesPerPipeline int
	// ListsPerPipeline caps the slots listed (and measured) in one
	// pipeline. Listing a slot of ~60 keys with their sizes takes the node
	// ~0.2ms, and Redis runs a client's queued commands back to back: a
	// pipeline of a whole group's slots kept the source's other clients
	// waiting for ~6ms. Default 8.
	ListsPerPipeline int
	// StreamsPerSource is how many groups at a time move keys out of one
	// node. MIGRATE blocks its source until the target has restored the
	// keys, so every stream adds to what the source's other clients wait
	// for. Default 1.
	StreamsPerSource int
	// StreamsPerTarget is how many groups at a time move keys into one
	// node. Restoring does not block the target beyond the commands
	// themselves; more streams overlap the sources' serialising with the
	// target's restoring, but make each source wait longer for its MIGRATE
	// replies. Default 3 (measured on loopback with short pipelines: as
	// fast as 2 streams of deep pipelines, with half the latency impact).
	StreamsPerTarget int
	// GroupsInFlight is how many such groups of one move run at once.
	// Default 2.
	GroupsInFlight int
	// CommandTimeout bounds each SETSLOT/GETKEYSINSLOT pipeline. Default 30s.
	CommandTimeout time.Duration
	// BeforeStep, when set, is called before each step of each slot; an
	// error stops the move right there without any clean-up, as a crash
	// would (the step is sent for the group's earlier slots only). For tests;
	// it is called from several goroutines at once.
	BeforeStep func(step string, slot int) error
	// Log receives progress at debug level. Default: discard.
	Log *slog.Logger
	// Pacer, when set, paces each source by its latency: it caps
	// KeysPerMigrate and MigratesPerPipeline and pauses between pipelines.
	// Nil sends flat out within those caps.
	Pacer *Pacer
	// ListFrom maps a source master's address to one of its replicas'.
	// A group's first listing, the costly one (every key of every slot,
	// and each key's MEMORY USAGE), then runs on that replica, with
	// READONLY, instead of blocking the source's event loop; in production
	// the replica runs on another server. The replica may lag: keys it
	// does not have yet are found by the listings that follow, which run
	// on the source once its slots are MIGRATING, and keys it still has
	// that the source dropped cost a MIGRATE that answers NOKEY. When the
	// replica fails to answer, the source is listed instead.
	ListFrom map[string]string
}

func (o LegacyOptions) withDefaults() LegacyOptions {
	if o.KeysPerMigrate <= 0 {
		o.KeysPerMigrate = 1000
	}
	if o.BytesPerMigrate == 0 {
		o.BytesPerMigrate = 4 << 20
	}
	if o.MigrateTimeout <= 0 {
		o.MigrateTimeout = 10 * time.Second
	}
	if o.BigKeyBytes == 0 {
		o.BigKeyBytes = 512 << 20
	}
	if o.SizeEvery <= 0 {
		o.SizeEvery = 8
	}
	if o.SlotsInFlight <= 0 {
		o.SlotsInFlight = 128
	}
	if o.ListsPerPipeline <= 0 {
		o.ListsPerPipeline = 8
	}
	if o.StreamsPerSource <= 0 {
		o.StreamsPerSource = 1
	}
	if o.StreamsPerTarget <= 0 {
		o.StreamsPerTarget = 3
	}
	if o.MigratesPerPipeline <= 0 {
		o.MigratesPerPipeline = 2
	}
	if o.GroupsInFlight <= 0 {
		o.GroupsInFlight = 2
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o LegacyOptions) measureSizes() bool { return o.BigKeyBytes > 0 || o.BytesPerMigrate > 0 }

// Legacy moves slots with SETSLOT/GETKEYSINSLOT/MIGRATE. It is safe for
// concurrent use by several moves.
type Legacy struct {
	opts LegacyOptions
	// clients are the mover's own per-node clients: MIGRATE pipelines need
	// longer deadlines than the admin pool's, set per call through the
	// context.
	clients *admin.Pool
	masters []string

	mu      sync.Mutex
	streams map[streamKey]chan struct{} // per-node semaphores: streams as source and as target, turns (see sem)
	listed  map[string]int              // first listings per replica that answered them
	noList  map[string]bool             // replicas that failed a listing: not asked again
	quiet   map[string]bool             // targets known to take a group in one announcement (see claim)
	large   map[string]bool             // sources seen holding a key over its share of the byte cap (see SizeEvery)
}

// lockPair gives a group the key-moving phase from src to dst once src
// sends fewer than StreamsPerSource streams and dst receives fewer than
// StreamsPerTarget. SETSLOT phases of other groups still overlap it. The
// source's semaphore is taken first, always: a group that holds a target's
// semaphore then waits for nothing, so no two groups wait for each other.
// (In address order instead, a group of the next batch could take the
// target's last stream and then wait for its own source, while the group
// whose source was free waited for the target: a stream idle for nothing.)
func (l *Legacy) lockPair(src, dst string) func() {
	out, in := l.sem(src, semSource), l.sem(dst, semTarget)
	out <- struct{}{}
	in <- struct{}{}
	return func() { <-in; <-out }
}

// semKind is what a node's semaphore counts (see sem).
type semKind int

const (
	semSource semKind = iota // key-moving streams out of the node
	semTarget                // key-moving streams into the node
	semTurn                  // MIGRATE pipelines of resting sources into the node
)

type streamKey struct {
	addr string
	kind semKind
}

// sem returns addr's semaphore of kind: StreamsPerSource, StreamsPerTarget
// or one turn (see takeTurn) wide.
func (l *Legacy) sem(addr string, kind semKind) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams == nil {
		l.streams = map[streamKey]chan struct{}{}
	}
	k := streamKey{addr, kind}
	c := l.streams[k]
	if c == nil {
		n := 1
		switch kind {
		case semSource:
			n = l.opts.StreamsPerSource
		case semTarget:
			n = l.opts.StreamsPerTarget
		}
		c = make(chan struct{}, n)
		l.streams[k] = c
	}
	return c
}

// takeTurn waits until no other resting source is sending a MIGRATE
// pipeline into dst, or ctx ends, and returns the function that ends this
// source's turn. A target restores one source's keys at a time; a MIGRATE
// that arrives meanwhile waits for the other's restore, and its source's
// clients wait with it. Sources at full duty do not take turns: they
// overlap their serialising with the target's restoring, which is what
// makes them fast.
func (l *Legacy) takeTurn(ctx context.Context, dst string) (func(), error) {
	c := l.sem(dst, semTurn)
	select {
	case c <- struct{}{}:
		return func() { <-c }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// NewLegacy returns a legacy mover. masters are the addresses of every master
// of the cluster: each must learn a slot's new owner (the mover skips a
// move's own source and target). Credentials come from pool's options.
func NewLegacy(pool *admin.Pool, masters []string, opts LegacyOptions) *Legacy {
	o := pool.Options()
	clients := admin.NewPool(admin.Options{
		Username:       o.Username,
		Password:       o.Password,
		TLS:            o.TLS,
		PasswordEnv:    o.PasswordEnv,
		DialTimeout:    o.DialTimeout,
		ReadTimeout:    10 * time.Minute, // the per-call context deadline is the real bound
		WriteTimeout:   time.Minute,
		ContextTimeout: true,
		PoolSize:       32,
	})
	return &Legacy{opts: opts.withDefaults(), clients: clients, masters: append([]string(nil), masters...)}
}

// Close closes the mover's connections.
func (l *Legacy) Close() { _ = l.clients.Close() }

// Move implements Mover. Groups of SlotsInFlight slots go through each step
// in one pipeline; GroupsInFlight groups run at once.
func (l *Legacy) Move(ctx context.Context, m plan.Move, ctl Control) (Stats, error) {
	src, dst := Endpoint{ID: m.From, Addr: m.FromAddr}, Endpoint{ID: m.To, Addr: m.ToAddr}
	var (
		mu       sync.Mutex
		total    Stats
		firstErr error
	)
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return firstErr != nil }
	var g errgroup.Group // not WithContext: a failing group must not cut others mid-slot
	g.SetLimit(l.opts.GroupsInFlight)
	var stop error
	var streaming sync.WaitGroup // groups that have not begun moving keys yet
	for slot := m.Range.Start; slot <= m.Range.End && stop == nil && !failed(); {
		var group []int
		for ; slot <= m.Range.End && len(group) < l.opts.SlotsInFlight; slot++ {
			if ctl.Next != nil {
				err := ctl.Next(slot)
				if errors.Is(err, ErrSkipSlot) {
					continue
				}
				if err != nil {
					stop = err
					break
				}
			}
			group = append(group, slot)
		}
		if len(group) == 0 {
			continue
		}
		streaming.Add(1)
		g.Go(func() error {
			var once sync.Once
			began := func() { once.Do(streaming.Done) }
			defer began()
			st, err := l.moveGroup(ctx, src, dst, group, began)
			mu.Lock()
			total.Add(st)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			if ctl.Progress != nil {
				ctl.Progress(st)
			}
			return nil
		})
	}
	if ctl.Streaming != nil {
		streaming.Wait()
		ctl.Streaming()
	}
	_ = g.Wait()
	if firstErr != nil {
		return total, fmt.Errorf("move %s %s→%s: %w", m.Range, m.FromAddr, m.ToAddr, firstErr)
	}
	return total, stop
}

// upTo returns how many of slots may take step before BeforeStep objects, and
// the objection.
func (l *Legacy) upTo(step string, slots []int) (int, error) {
	if l.opts.BeforeStep == nil {
		return len(slots), nil
	}
	for i, s := range slots {
		if err := l.opts.BeforeStep(step, s); err != nil {
			return i, &StepError{Step: step, Slot: s, Err: err}
		}
	}
	return len(slots), nil
}

// moveGroup moves slots (ascending, all owned by src) in protocol order.
// It calls began once it holds the pair's key-moving stream (see
// Control.Streaming); its caller calls it too, in case it never gets there.
func (l *Legacy) moveGroup(ctx context.Context, src, dst Endpoint, slots []int, began func()) (Stats, error) {
	var st Stats
	// Measure before opening anything, so a big key leaves its slot untouched.
	keys, err := l.listFirst(ctx, src.Addr, slots)
	if err != nil {
		return st, err
	}
	var bigErr error
	if l.opts.BigKeyBytes > 0 {
	big:
		for i, sk := range keys {
			for j, n := range sk.sizes {
				if n > l.opts.BigKeyBytes {
					bigErr = &ErrBigKey{Key: sk.keys[j], Slot: sk.slot, Bytes: n, Limit: l.opts.BigKeyBytes, Node: src.Addr}
					slots = slots[:slices.Index(slots, sk.slot)]
					keys = keys[:i]
					break big
				}
			}
		}
	}
	if len(slots) == 0 {
		return st, bigErr
	}

	n, stepErr := l.upTo(StepImporting, slots)
	if err := l.setSlots(ctx, dst.Addr, slots[:n], "IMPORTING", src.ID, nil); err != nil {
		l.stable(ctx, dst.Addr, slots[:n])
		return st, err
	}
	if stepErr != nil {
		return st, stepErr
	}

	n, stepErr = l.upTo(StepMigrating, slots)
	if err := l.setSlots(ctx, src.Addr, slots[:n], "MIGRATING", dst.ID, nil); err != nil {
		// No key has moved yet: closing both sides is exact.
		l.stable(ctx, src.Addr, slots)
		l.stable(ctx, dst.Addr, slots)
		return st, err
	}
	if stepErr != nil {
		return st, stepErr
	}

	n, stepErr = l.upTo(StepKeys, slots)
	unlock := l.lockPair(src.Addr, dst.Addr)
	began()
	ks, err := l.drain(ctx, src, dst, slots[:n], keys)
	unlock()
	st.Add(ks)
	if err != nil || stepErr != nil {
		return st, errors.Join(err, stepErr)
	}

	if err := l.publish(ctx, src, dst, slots, &st); err != nil {
		return st, err
	}
	st.Slots = len(slots)
	l.opts.Log.Debug("slots moved", "from", src.Addr, "to", dst.Addr, "first", slots[0], "last", slots[len(slots)-1], "keys", st.Keys)
	return st, bigErr
}

// publish sends SETSLOT NODE to the target, then the source, then every
// other master, honouring BeforeStep.
func (l *Legacy) publish(ctx context.Context, src, dst Endpoint, slots []int, st *Stats) error {
	n, stepErr := l.upTo(StepNodeTarget, slots)
	if err := l.claim(ctx, dst, slots[:n]); err != nil {
		return err
	}
	if stepErr != nil {
		return stepErr
	}
	n, stepErr = l.upTo(StepNodeSource, slots)
	// A write that raced the last GETKEYSINSLOT makes the source refuse
	// ("still hold keys"): drain again and retry, a few times.
	for attempt := 0; ; attempt++ {
		var again []int
		err := l.setSlots(ctx, src.Addr, slots[:n], "NODE", dst.ID, func(slot int, err error) bool {
			if admin.IsOnlyMasters(err) {
				return true // the source gave away its last slot and became a replica
			}
			if admin.IsStillHoldsKeys(err) && attempt < 3 {
				again = append(again, slot)
				return true
			}
			return false
		})
		if err != nil {
			return err
		}
		if len(again) == 0 {
			break
		}
		ks, err := l.drain(ctx, src, dst, again, nil)
		st.Add(ks)
		if err != nil {
			return err
		}
		if err := l.setSlots(ctx, src.Addr, again, "NODE", dst.ID, nil); err != nil {
			return err
		}
		break
	}
	if stepErr != nil {
		return stepErr
	}
	n, stepErr = l.upTo(StepNodeOthers, slots)
	l.broadcast(ctx, src, dst, slots[:n])
	return stepErr
}

// broadcast tells every other master the new owner, in parallel. Failures
// are retried briefly (a master may not know the target yet) and then only
// logged: gossip spreads the target's bumped epoch anyway, and the slot is
// no longer open.
func (l *Legacy) broadcast(ctx context.Context, src, dst Endpoint, slots []int) {
	if len(slots) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, addr := range l.masters {
		if addr == src.Addr || addr == dst.Addr {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			todo := slots
			for attempt := 0; attempt < 30 && len(todo) > 0; attempt++ {
				if attempt > 0 && sleep(ctx, 100*time.Millisecond) != nil {
					break // the slot is closed; gossip tells the master
				}
				var retry []int
				err := l.setSlots(ctx, addr, todo, "NODE", dst.ID, func(slot int, err error) bool {
					retry = append(retry, slot)
					return true
				})
				if err != nil {
					l.opts.Log.Warn("SETSLOT NODE on other master failed", logkey.Node, addr, logkey.Error, err)
					return
				}
				todo = retry
			}
			if len(todo) > 0 {
				l.opts.Log.Warn("other master did not accept the new owner; gossip will tell it", logkey.Node, addr, "slots", len(todo), "target", dst.Addr)
			}
		}()
	}
	wg.Wait()
}

// setSlots sends CLUSTER SETSLOT s <sub> <id> for every slot in one pipeline
// (again for those a Valkey primary answered NOREPLICAS: see setSlotsRetry).
// A per-slot error goes to tolerate; when it returns false (or is nil), the
// first such error is returned.
func (l *Legacy) setSlots(ctx context.Context, addr string, slots []int, sub, id string, tolerate func(slot int, err error) bool) error {
	if len(slots) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.CommandTimeout)
	defer cancel()
	errs, err := l.setSlotsRetry(ctx, addr, slots, sub, id)
	if err != nil {
		return fmt.Errorf("CLUSTER SETSLOT %s %s on %s: %w", sub, slotSpan(slots), addr, err)
	}
	for i, s := range slots {
		if err := errs[i]; err != nil {
			if tolerate != nil && tolerate(s, err) {
				continue
			}
			return fmt.Errorf("CLUSTER SETSLOT %d %s on %s: %w", s, sub, addr, err)
		}
	}
	return nil
}

// stable closes slots on addr, best effort (used to roll back a group that
// moved no key).
func (l *Legacy) stable(ctx context.Context, addr string, slots []int) {
	if err := l.setSlots(ctx, addr, slots, "STABLE", "", nil); err != nil {
		l.opts.Log.Warn("rolling back open slots failed; the next run repairs them", logkey.Node, addr, logkey.Error, err)
	}
}

type migrateBatch struct {
	slot    int
	keys    []string
	sizes   []int64 // of keys, nil when not measured
	bytes   int64
	replace bool
}

// drain MIGRATEs every key of slots from src to dst until every slot
// counts no key. known holds the keys listed before the slots opened, for
// the first round; afterwards every slot's keys are counted, and those
// that still hold some listed again, so keys written between that listing
// and MIGRATING are not missed. Lists and MIGRATEs go in short pipelines
// (ListsPerPipeline, MigratesPerPipeline). slots are ascending.
func (l *Legacy) drain(ctx context.Context, src, dst Endpoint, slots []int, known []slotKeys) (Stats, error) {
	var st Stats
	if len(slots) == 0 {
		return st, nil
	}
	var err error
	busy := map[int]map[string]bool{} // keys that met BUSYKEY: resend with REPLACE
	var batches []migrateBatch        // reused from round to round
	var keys []slotKeys
	for _, sk := range known {
		if _, ok := slices.BinarySearch(slots, sk.slot); ok && len(sk.keys) > 0 {
			keys = append(keys, sk)
		}
	}
	pending := slots
	listed := len(keys) > 0 // round one uses the scan's keys
	for round := 0; len(pending) > 0; round++ {
		if round > 10000 {
			return st, fmt.Errorf("slots %s on %s never emptied", slotSpan(pending), src.Addr)
		}
		if !listed {
			// Most slots are empty by now: count them first, in one
			// pipeline, and list only the rest.
			if pending, err = l.nonEmpty(ctx, src.Addr, pending); err != nil {
				return st, err
			}
			if len(pending) == 0 {
				return st, nil
			}
			if keys, err = l.list(ctx, src.Addr, pending); err != nil {
				return st, err
			}
			if len(keys) == 0 {
				return st, nil
			}
			pending = pending[:0:0]
			for _, sk := range keys {
				pending = append(pending, sk.slot)
			}
		}
		listed = false
		batches = l.batches(batches[:0], keys, busy, l.keysPerMigrate(src.Addr))
		if err := l.migrate(ctx, src.Addr, dst.Addr, batches, busy, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// batches appends to out each slot's keys split into MIGRATE batches by
// count and bytes; keys that met BUSYKEY go in REPLACE batches of their
// own. A slot without such keys is cut into sub-slices of its keys, not
// copied.
func (l *Legacy) batches(out []migrateBatch, keys []slotKeys, busy map[int]map[string]bool, perMigrate int) []migrateBatch {
	for _, sk := range keys {
		if len(busy[sk.slot]) == 0 {
			out = l.split(out, sk, perMigrate)
			continue
		}
		var cur, rep migrateBatch
		cur.slot, rep.slot, rep.replace = sk.slot, sk.slot, true
		flush := func(b *migrateBatch) {
			if len(b.keys) > 0 {
				out = append(out, *b)
			}
			*b = migrateBatch{slot: sk.slot, replace: b.replace}
		}
		for j, k := range sk.keys {
			b := &cur
			if busy[sk.slot][k] {
				b = &rep
			}
			n := sk.size(j)
			if len(b.keys) > 0 && l.full(len(b.keys), b.bytes+n, perMigrate) {
				flush(b)
			}
			b.keys = append(b.keys, k)
			if sk.sizes != nil {
				b.sizes = append(b.sizes, n)
			}
			b.bytes += n
		}
		flush(&cur)
		flush(&rep)
	}
	return out
}

// split appends sk's keys to out in batches of sub-slices.
func (l *Legacy) split(out []migrateBatch, sk slotKeys, perMigrate int) []migrateBatch {
	start, bytes := 0, int64(0)
	for j := range sk.keys {
		n := sk.size(j)
		if j > start && l.full(j-start, bytes+n, perMigrate) {
			out = append(out, migrateBatch{slot: sk.slot, keys: sk.keys[start:j:j], sizes: sk.sizesOf(start, j), bytes: bytes})
			start, bytes = j, 0
		}
		bytes += n
	}
	if start < len(sk.keys) {
		out = append(out, migrateBatch{slot: sk.slot, keys: sk.keys[start:], sizes: sk.sizesOf(start, len(sk.keys)), bytes: bytes})
	}
	return out
}

// sizesOf is the sizes of keys[i:j], nil when not measured.
func (sk slotKeys) sizesOf(i, j int) []int64 {
	if sk.sizes == nil {
		return nil
	}
	return sk.sizes[i:j:j]
}

// full reports whether a batch of n keys and bytes bytes is over a limit.
func (l *Legacy) full(n int, bytes int64, perMigrate int) bool {
	return n >= perMigrate || (l.opts.BytesPerMigrate > 0 && bytes > l.opts.BytesPerMigrate)
}

// size is keys[j]'s size, 0 when not measured.
func (sk slotKeys) size(j int) int64 {
	if sk.sizes == nil {
		return 0
	}
	return sk.sizes[j]
}

// migrate sends batches in pipelines on src's connection. The source runs
// MIGRATEs one after another anyway; the pipeline removes the round trips.
func (l *Legacy) migrate(ctx context.Context, srcAddr, dstAddr string, batches []migrateBatch, busy map[int]map[string]bool, st *Stats) error {
	const pipeBytes = 64 << 20
	host, port, err := net.SplitHostPort(dstAddr)
	if err != nil {
		return fmt.Errorf("target address %q: %w", dstAddr, err)
	}
	for len(batches) > 0 {
		caps, err := l.pipeline(ctx, srcAddr, dstAddr)
		if err != nil {
			return err
		}
		var part []migrateBatch
		var bytes int64
		for len(batches) > 0 && (len(part) == 0 || (bytes+batches[0].bytes <= pipeBytes && len(part) < caps.depth)) {
			// The round's batches were cut at the caps of its start; a
			// cut of the pace since applies to the next MIGRATE.
			b := batches[0]
			if head, tail, ok := b.cut(caps.keys, caps.bytes); ok {
				b, batches[0] = head, tail
			} else {
				batches = batches[1:]
			}
			bytes += b.bytes
			part = append(part, b)
		}
		var budget time.Duration
		auth := l.clients.Options()
		pipe := l.clients.Client(srcAddr).Pipeline()
		cmds := make([]*redis.Cmd, len(part))
		for i, b := range part {
			timeout := l.opts.MigrateTimeout + time.Duration(b.bytes>>20)*time.Second
			budget += timeout
			cmds[i] = pipe.Do(ctx, admin.MigrateArgs(host, port, b.keys, admin.MigrateOptions{Timeout: timeout, Replace: b.replace}, auth.Username, auth.Password)...)
		}
		done := func() {}
		if caps.turn {
			if done, err = l.takeTurn(ctx, dstAddr); err != nil {
				return err
			}
		}
		began, sent := time.Now(), st.Keys
		cctx, cancel := context.WithTimeout(ctx, budget+l.opts.CommandTimeout)
		_, err = pipe.Exec(cctx)
		cancel()
		done()
		if err != nil && !isRedisErr(err) {
			return fmt.Errorf("MIGRATE from %s to %s:%s: %w", srcAddr, host, port, err)
		}
		for i, b := range part {
			err := cmds[i].Err()
			switch {
			case err == nil:
				st.Keys += int64(len(b.keys))
				st.Bytes += b.bytes
				if b.replace {
					st.Replaced += int64(len(b.keys))
					for _, k := range b.keys {
						delete(busy[b.slot], k)
					}
				}
			case admin.IsBusyKey(err) && !b.replace:
				// The keys MIGRATE could restore are gone from the source; the
				// busy ones stay. The source copy is authoritative while the
				// slot is migrating (writes go to it): resend them with REPLACE.
				if busy[b.slot] == nil {
					busy[b.slot] = map[string]bool{}
				}
				for _, k := range b.keys {
					busy[b.slot][k] = true
				}
			default:
				return fmt.Errorf("MIGRATE slot %d from %s to %s:%s: %w", b.slot, srcAddr, host, port, err)
			}
		}
		l.sent(srcAddr, dstAddr, st.Keys-sent, time.Since(began))
	}
	return nil
}

func isRedisErr(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

func slotSpan(slots []int) string {
	switch len(slots) {
	case 0:
		return "(none)"
	case 1:
		return fmt.Sprint(slots[0])
	}
	return fmt.Sprintf("%d..%d (%d slots)", slots[0], slots[len(slots)-1], len(slots))
}
