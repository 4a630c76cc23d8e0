package migrate

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/logkey"
)

// claim gives dst the slots it was importing: CLUSTER SETSLOT s NODE
// <dst> on dst itself, the first step of publishing a group.
//
// Redis answers each such SETSLOT of a slot it was importing by bumping
// its config epoch if needed and broadcasting a PONG to every node at
// once. Every node then scans the whole slot map for each PONG
// (clusterUpdateSlotsConfigWith). Sent one SETSLOT per slot in one
// pipeline, a group of 33 slots had every node of the benchmark's cluster
// take 33 PONGs at the same moment; on two cores that stalled them all
// for 3-5ms once per group, which the independent client's p99 showed
// (measured with perf: those two functions took 52% of the nodes' CPU
// during its slow operations, 5% outside them).
//
// So on Redis, every slot but the last is closed first and then given to
// dst (STABLE, then NODE: a slot no longer importing is taken without a
// bump or a broadcast), and the last slot's NODE bumps the epoch and
// broadcasts once, carrying every slot of the group. The commands run in
// one MULTI, so no client ever finds dst neither importing nor owning a
// slot. Valkey 8 and later forward SETSLOT to the replicas and wait for
// them; how that combines with MULTI is not what this relies on, so they
// (and a target whose INFO cannot be read) get one SETSLOT per slot, as
// before.
func (l *Legacy) claim(ctx context.Context, dst Endpoint, slots []int) error {
	if len(slots) < 2 || !l.quietClaims(ctx, dst.Addr) {
		return l.setSlots(ctx, dst.Addr, slots, "NODE", dst.ID, nil)
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.CommandTimeout)
	defer cancel()
	last := len(slots) - 1
	_, err := l.clients.Client(dst.Addr).TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range slots[:last] {
			p.Do(ctx, "CLUSTER", "SETSLOT", s, "STABLE")
			p.Do(ctx, "CLUSTER", "SETSLOT", s, "NODE", dst.ID)
		}
		p.Do(ctx, "CLUSTER", "SETSLOT", slots[last], "NODE", dst.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("CLUSTER SETSLOT NODE %s on %s (one transaction, one announcement): %w", slotSpan(slots), dst.Addr, err)
	}
	return nil
}

// quietClaims reports whether addr takes a group's slots in one
// transaction with one announcement (see claim): Redis does, when the user
// may run MULTI. The answer is kept per node.
func (l *Legacy) quietClaims(ctx context.Context, addr string) bool {
	l.mu.Lock()
	ok, known := l.quiet[addr]
	l.mu.Unlock()
	if known {
		return ok
	}
	cctx, cancel := context.WithTimeout(ctx, l.opts.CommandTimeout)
	defer cancel()
	text, err := l.clients.Client(addr).Info(cctx, "server").Result()
	if err != nil {
		return false // asked again next time
	}
	name, _ := cluster.Server(cluster.ParseInfo(text))
	ok = name == "Redis" && l.mayMulti(cctx, addr)
	l.mu.Lock()
	if l.quiet == nil {
		l.quiet = map[string]bool{}
	}
	l.quiet[addr] = ok
	l.mu.Unlock()
	return ok
}

// mayMulti tells whether the user may run a transaction on addr: an empty
// MULTI then EXEC, on a client of its own that is closed afterwards. A
// user whose ACL lacks +multi or +exec gets one SETSLOT per slot instead:
// a refused MULTI leaves the commands after it to run one by one, and a
// refused EXEC leaves the connection inside the transaction, which must
// not go back to a pool.
func (l *Legacy) mayMulti(ctx context.Context, addr string) bool {
	c := admin.NewClient(addr, l.clients.Options())
	defer func() { _ = c.Close() }()
	conn := c.Conn()
	defer func() { _ = conn.Close() }()
	err := conn.Do(ctx, "MULTI").Err()
	if err == nil {
		err = conn.Do(ctx, "EXEC").Err()
	}
	if err != nil {
		l.opts.Log.Info("the target may not run a transaction: it takes each slot with its own announcement", logkey.Node, addr, logkey.Error, err)
		return false
	}
	return true
}
