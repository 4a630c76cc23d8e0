package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/plan"
)

// bareEnv, when set, turns this program into the bare MIGRATE mover (mode
// bare): its arguments are the cluster's addresses, the password is in
// passwordEnv.
//
// Why a bare mover: every legacy migration, redis-cli's and slotshift's,
// spends most of its time inside MIGRATE on the sources and RESTORE on the
// target, on the same cores as the nodes. The bare mover is the least any
// MIGRATE-based tool can add to that: the same slots as slotshift's plan,
// every slot of a source opened at once, keys listed with GETKEYSINSLOT
// and moved with MIGRATE in deep pipelines, no key sizes, no batches, no
// gates, nothing written but the moves. Its time is the floor of the
// protocol on this machine, so redis-cli / bare is the most any
// MIGRATE-based mover can show here, and slotshift / bare is what
// slotshift's safety (sizes, batches, gates, gentle pipelines) costs.
const bareEnv = "SLOTSHIFT_BENCH_BARE"

// barePipeline is how many slots the bare mover lists, and then MIGRATEs,
// per pipeline.
const barePipeline = 16

// bareMain is the bare mover's main; it exits 0 when every planned slot
// is on its target and closed.
func bareMain(addrs []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	moved, err := bareMove(ctx, addrs, os.Getenv(passwordEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		return 1
	}
	fmt.Printf("bare: moved %d keys\n", moved)
	return 0
}

// bareMove rebalances the cluster of addrs as slotshift's planner would,
// with the bare protocol, and returns how many keys MIGRATE moved.
func bareMove(ctx context.Context, addrs []string, password string) (int64, error) {
	if len(addrs) == 0 {
		return 0, errors.New("no node address given")
	}
	pool := admin.NewPool(admin.Options{Password: password, ReadTimeout: time.Minute})
	defer pool.Close()
	known := map[string]bool{}
	for _, a := range addrs {
		known[a] = true
	}
	nodes, err := pool.ClusterNodes(ctx, addrs[0])
	if err != nil {
		return 0, err
	}
	var masters []plan.Master
	for _, n := range nodes {
		if n.IsMaster() {
			masters = append(masters, plan.Master{ID: n.ID, Addr: n.Addr, Weight: 1, Slots: n.Slots})
		}
	}
	p, err := plan.PlanRebalance(masters, plan.Options{Fingerprint: cluster.Fingerprint(nodes)})
	if err != nil {
		return 0, err
	}
	client := func(addr string) (*redis.Client, error) {
		if !known[addr] {
			return nil, fmt.Errorf("node %s is not among the given addresses", addr)
		}
		return pool.Client(addr), nil
	}
	bySource := map[string][]plan.Move{}
	for _, m := range p.Moves {
		bySource[m.FromAddr] = append(bySource[m.FromAddr], m)
	}
	var g errgroup.Group
	moved := make([]int64, len(bySource)) // one per source goroutine
	i := -1
	for src, moves := range bySource {
		i++
		idx := i
		g.Go(func() error {
			for _, m := range moves {
				n, err := bareMoveRange(ctx, client, m, password)
				moved[idx] += n
				if err != nil {
					return fmt.Errorf("%s %s→%s: %w", m.Range, src, m.ToAddr, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	// Tell the masters that took no part, as redis-cli and slotshift do.
	for _, m := range p.Moves {
		for _, ms := range masters {
			if ms.Addr == m.FromAddr || ms.Addr == m.ToAddr {
				continue
			}
			c, err := client(ms.Addr)
			if err != nil {
				return 0, err
			}
			if err := setSlots(ctx, c, m.Range, "NODE", m.To); err != nil {
				return 0, err
			}
		}
	}
	var total int64
	for _, n := range moved {
		total += n
	}
	return total, nil
}

// bareMoveRange moves one planned range: IMPORTING on the target and
// MIGRATING on the source for every slot at once, then per pipeline of
// slots GETKEYSINSLOT and MIGRATE until they are empty, then SETSLOT NODE
// on the target and the source.
func bareMoveRange(ctx context.Context, client func(string) (*redis.Client, error), m plan.Move, password string) (int64, error) {
	src, err := client(m.FromAddr)
	if err != nil {
		return 0, err
	}
	dst, err := client(m.ToAddr)
	if err != nil {
		return 0, err
	}
	host, port, err := net.SplitHostPort(m.ToAddr)
	if err != nil {
		return 0, err
	}
	if err := setSlots(ctx, dst, m.Range, "IMPORTING", m.From); err != nil {
		return 0, err
	}
	if err := setSlots(ctx, src, m.Range, "MIGRATING", m.To); err != nil {
		return 0, err
	}
	var moved int64
	for lo := m.Range.Start; lo <= m.Range.End; {
		hi := min(lo+barePipeline-1, m.Range.End)
		pipe := src.Pipeline()
		lists := make([]*redis.StringSliceCmd, 0, barePipeline)
		for s := lo; s <= hi; s++ {
			lists = append(lists, pipe.ClusterGetKeysInSlot(ctx, s, 1000))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return moved, fmt.Errorf("GETKEYSINSLOT %d-%d: %w", lo, hi, err)
		}
		pipe = src.Pipeline()
		n := 0
		for _, l := range lists {
			keys := l.Val()
			if len(keys) == 0 {
				continue
			}
			pipe.Do(ctx, admin.MigrateArgs(host, port, keys, admin.MigrateOptions{Timeout: time.Minute}, "", password)...)
			n += len(keys)
		}
		if n == 0 {
			lo = hi + 1 // every slot of this pipeline is empty
			continue
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return moved, fmt.Errorf("MIGRATE %d-%d: %w", lo, hi, err)
		}
		moved += int64(n)
	}
	if err := setSlots(ctx, dst, m.Range, "NODE", m.To); err != nil {
		return moved, err
	}
	return moved, setSlots(ctx, src, m.Range, "NODE", m.To)
}

// setSlots sends CLUSTER SETSLOT <slot> sub id for every slot of r in one
// pipeline.
func setSlots(ctx context.Context, c *redis.Client, r cluster.Range, sub, id string) error {
	pipe := c.Pipeline()
	for s := r.Start; s <= r.End; s++ {
		pipe.Do(ctx, "CLUSTER", "SETSLOT", s, sub, id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("CLUSTER SETSLOT %s %s on %s: %w", r, sub, c.Options().Addr, err)
	}
	return nil
}
