package migrate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/logkey"
	"github.com/slotshift/slotshift/pkg/measure"
)

// listScript returns up to ARGV[2] keys of slot ARGV[1] followed by the
// MEMORY USAGE (default sampling) of each: one call per slot lists and
// measures, instead of a GETKEYSINSLOT and then one command per key (the
// round trips cost more than the measurement). The keys are local to the
// node (it owns or exports the slot), as cluster mode requires of a script.
// It is how every key is measured (see LegacyOptions.SizeEvery).
const listScript = `local ks = redis.call('CLUSTER', 'GETKEYSINSLOT', ARGV[1], ARGV[2])
local n = #ks
for i = 1, n do ks[n + i] = redis.call('MEMORY', 'USAGE', ks[i]) or 0 end
return ks`

// slotKeys are keys of one slot and, when sizes are measured, their sizes
// (sizes[i] is keys[i]'s; nil when not measured). A key the listing did
// not measure (see LegacyOptions.SizeEvery) has the largest measured size
// of its slot.
type slotKeys struct {
	slot  int
	keys  []string
	sizes []int64
}

// listFirst lists slots of src before they open: on src's replica (see
// LegacyOptions.ListFrom) when it has one that answers, else on src.
func (l *Legacy) listFirst(ctx context.Context, src string, slots []int) ([]slotKeys, error) {
	rep := l.opts.ListFrom[src]
	l.mu.Lock()
	skip := rep == "" || l.noList[rep]
	l.mu.Unlock()
	if !skip {
		keys, err := l.listOn(ctx, rep, slots, true, src)
		if err == nil {
			l.mu.Lock()
			if l.listed == nil {
				l.listed = map[string]int{}
			}
			l.listed[rep]++
			l.mu.Unlock()
			return keys, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.noList == nil {
			l.noList = map[string]bool{}
		}
		l.noList[rep] = true
		l.mu.Unlock()
		l.opts.Log.Warn("listing keys on the replica failed; listing on its master", logkey.Node, rep, "master", src, logkey.Error, err)
	}
	return l.list(ctx, src, slots)
}

// ReplicaListings returns, per replica, how many slot groups were listed
// on it rather than on its master (see LegacyOptions.ListFrom).
func (l *Legacy) ReplicaListings() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.listed)
}

// nonEmpty returns the slots of slots that addr holds keys of, in order,
// from one pipeline of CLUSTER COUNTKEYSINSLOT (admin.Pool.CountKeysInSlots):
// the server keeps a count per slot, so this costs it far less than
// listing (a script per slot) and costs one round trip rather than one per
// ListsPerPipeline slots.
func (l *Legacy) nonEmpty(ctx context.Context, addr string, slots []int) ([]int, error) {
	ctx, cancel := context.WithTimeout(ctx, l.opts.CommandTimeout)
	defer cancel()
	counts, err := l.clients.CountKeysInSlots(ctx, addr, slots)
	if err != nil {
		return nil, err
	}
	var out []int
	for i, s := range slots {
		if counts[i] > 0 {
			out = append(out, s)
		}
	}
	return out, nil
}

// list lists up to KeysPerMigrate keys of each slot of addr, in pipelines of
// ListsPerPipeline slots, with their sizes when sizes are measured. Slots
// without keys are left out; the rest keep the order of slots.
func (l *Legacy) list(ctx context.Context, addr string, slots []int) ([]slotKeys, error) {
	return l.listOn(ctx, addr, slots, false, addr)
}

// listOn is list; readonly lists on a replica, whose connection must say
// READONLY first to read its master's keys. Between its pipelines it
// rests as src's pace rests between MIGRATE pipelines (see
// Pacer.RestAfter): listing a group of 33 slots with their sizes kept a
// replica busy for a burst of several milliseconds, and on the
// benchmark's two cores the replicas took 44% of the CPU during the
// independent client's slow operations against 10% outside them (perf,
// one source at a time at rest 0.5). In production the replica of a cross
// replicated server shares its host with another master.
func (l *Legacy) listOn(ctx context.Context, addr string, slots []int, readonly bool, src string) ([]slotKeys, error) {
	ctx, cancel := context.WithTimeout(ctx, l.opts.CommandTimeout)
	defer cancel()
	every := 0 // no sizes
	if l.opts.measureSizes() {
		every = l.sizeEvery(ctx, addr, src)
	}
	out := make([]slotKeys, 0, len(slots))
	var busy, owed time.Duration
	for start := 0; start < len(slots); start += l.opts.ListsPerPipeline {
		if start > 0 && l.opts.Pacer != nil {
			if err := l.opts.Pacer.RestAfter(ctx, src, busy, &owed); err != nil {
				return nil, err
			}
		}
		began := time.Now()
		got, err := l.listChunk(ctx, addr, slots[start:min(start+l.opts.ListsPerPipeline, len(slots))], readonly, every)
		busy = time.Since(began)
		if err != nil {
			return nil, err
		}
		if every > 1 {
			if k, size, ok := l.overShare(got); ok {
				// Not all small: measure every key of src from now on,
				// this listing's included.
				l.mu.Lock()
				if l.large == nil {
					l.large = map[string]bool{}
				}
				l.large[src] = true
				l.mu.Unlock()
				l.opts.Log.Debug("a key is over its share of the byte cap: measuring every key", logkey.Node, src, "key", k, "bytes", size, "share", l.opts.keyShare())
				return l.listOn(ctx, addr, slots, readonly, src)
			}
		}
		out = append(out, got...)
	}
	return out, nil
}

// listChunk lists slots on addr in one pipeline: with every 0 their keys
// (GETKEYSINSLOT), with every 1 their keys and each key's size
// (listScript), and with a larger every their keys (GETKEYSINSLOT) and then,
// in a second pipeline, the size of one key in every of each slot (MEMORY
// USAGE), the first included; the others take the largest measured size
// of their slot. The script costs a node about fifteen times what
// GETKEYSINSLOT does for a slot of 61 small keys (88µs against 5.7µs;
// INFO commandstats), most of it moving the keys in and out of Lua, so a
// sample is taken with plain commands. Slots without keys are left out.
func (l *Legacy) listChunk(ctx context.Context, addr string, slots []int, readonly bool, every int) ([]slotKeys, error) {
	// run sends one pipeline to addr, saying READONLY first on a replica.
	run := func(fill func(redis.Pipeliner)) error {
		pipe := l.clients.Client(addr).Pipeline()
		var ro *redis.StatusCmd
		if readonly {
			ro = pipe.ReadOnly(ctx)
		}
		fill(pipe)
		_, _ = pipe.Exec(ctx)
		if ro != nil && ro.Err() != nil {
			return fmt.Errorf("READONLY on %s: %w", addr, ro.Err())
		}
		return nil
	}
	cmds := make([]*redis.Cmd, len(slots))
	err := run(func(pipe redis.Pipeliner) {
		for i, s := range slots {
			if every == 1 {
				cmds[i] = pipe.Eval(ctx, listScript, nil, s, l.opts.KeysPerMigrate)
			} else {
				cmds[i] = pipe.Do(ctx, "CLUSTER", "GETKEYSINSLOT", s, l.opts.KeysPerMigrate)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]slotKeys, 0, len(slots))
	for i, s := range slots {
		sk, err := parseListing(cmds[i], s, every == 1)
		if err != nil {
			return nil, fmt.Errorf("listing the keys of slot %d on %s: %w", s, addr, err)
		}
		if len(sk.keys) > 0 {
			out = append(out, sk)
		}
	}
	if every <= 1 || len(out) == 0 {
		return out, nil
	}
	var sizes []*redis.IntCmd
	err = run(func(pipe redis.Pipeliner) {
		for _, sk := range out {
			for j := 0; j < len(sk.keys); j += every {
				sizes = append(sizes, pipe.MemoryUsage(ctx, sk.keys[j]))
			}
		}
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		sk := &out[i]
		sk.sizes = make([]int64, len(sk.keys))
		for j := range sk.sizes {
			if j%every != 0 {
				sk.sizes[j] = -1
				continue
			}
			n, err := sizes[0].Result()
			sizes = sizes[1:]
			if err != nil && !errors.Is(err, redis.Nil) { // Nil: the key is gone
				return nil, fmt.Errorf("MEMORY USAGE %q on %s: %w", sk.keys[j], addr, err)
			}
			sk.sizes[j] = n
		}
		estimate(sk.sizes)
	}
	return out, nil
}

// parseListing reads one slot's GETKEYSINSLOT reply, or with sized
// listScript's: the keys, then their sizes.
func parseListing(cmd *redis.Cmd, slot int, sized bool) (slotKeys, error) {
	sk := slotKeys{slot: slot}
	vals, err := cmd.Slice()
	if err != nil {
		return sk, err
	}
	n := len(vals)
	if sized {
		if n%2 != 0 {
			return sk, fmt.Errorf("odd reply of %d values", n)
		}
		n /= 2
	}
	if n == 0 {
		return sk, nil
	}
	sk.keys = make([]string, n)
	if sized {
		sk.sizes = make([]int64, n)
	}
	for j := range n {
		k, ok := vals[j].(string)
		if !ok {
			return sk, fmt.Errorf("key %d is %T", j, vals[j])
		}
		sk.keys[j] = k
		if sized {
			size, ok := vals[n+j].(int64)
			if !ok {
				return sk, fmt.Errorf("size of %q is %T", k, vals[n+j])
			}
			sk.sizes[j] = size
		}
	}
	return sk, nil
}

// overShare returns a measured key of keys over its share of the byte cap,
// if any (see LegacyOptions.SizeEvery). Only measured keys can be: an
// unmeasured one has its slot's largest measured size.
func (l *Legacy) overShare(keys []slotKeys) (key string, size int64, ok bool) {
	share := l.opts.keyShare()
	for _, sk := range keys {
		for j, n := range sk.sizes {
			if n > share {
				return sk.keys[j], n, true
			}
		}
	}
	return "", 0, false
}

// sizeEvery is how many keys of each slot of src, listed on addr, share
// one MEMORY USAGE (see LegacyOptions.SizeEvery): SizeEvery while src's
// keys are small, else 1, every key measured. A node whose INFO cannot be
// read gets 1.
func (l *Legacy) sizeEvery(ctx context.Context, addr, src string) int {
	every := l.opts.SizeEvery
	l.mu.Lock()
	large := l.large[src]
	l.mu.Unlock()
	if every <= 1 || large {
		return 1
	}
	if l.opts.BigKeyBytes <= 0 {
		return every
	}
	text, err := l.clients.Client(addr).Info(ctx, "memory").Result()
	if err != nil {
		return 1
	}
	used, err := measure.Int(cluster.ParseInfo(text), "used_memory")
	if err != nil || used > l.opts.BigKeyBytes/2 {
		return 1
	}
	return every
}

// keyShare is a key's share of the byte cap: below it no MIGRATE of
// KeysPerMigrate keys passes BytesPerMigrate. No cap: no limit.
func (o LegacyOptions) keyShare() int64 {
	if o.BytesPerMigrate <= 0 {
		return math.MaxInt64
	}
	return o.BytesPerMigrate / int64(o.KeysPerMigrate)
}

// estimate gives each unmeasured size (negative) the largest measured one
// of sizes, 0 when none was measured.
func estimate(sizes []int64) {
	var top int64
	for _, n := range sizes {
		top = max(top, n)
	}
	for j, n := range sizes {
		if n < 0 {
			sizes[j] = top
		}
	}
}
