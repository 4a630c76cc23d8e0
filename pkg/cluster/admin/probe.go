package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// The read-only probes below return go-redis' errors as they are: the
// callers (gate's probes, the stages' observer) say which node and what
// they were measuring.

// Info runs INFO with the given sections on the node at addr and returns
// its fields (cluster.ParseInfo).
func (p *Pool) Info(ctx context.Context, addr string, sections ...string) (map[string]string, error) {
	text, err := p.Client(addr).Info(ctx, sections...).Result()
	if err != nil {
		return nil, err
	}
	return cluster.ParseInfo(text), nil
}

// Ping sends one PING to the node at addr.
func (p *Pool) Ping(ctx context.Context, addr string) error {
	return p.Client(addr).Ping(ctx).Err()
}

// ConfigGet runs CONFIG GET pattern on the node at addr.
func (p *Pool) ConfigGet(ctx context.Context, addr, pattern string) (map[string]string, error) {
	return p.Client(addr).ConfigGet(ctx, pattern).Result()
}

// Vitals is what the gate monitor reads of a node in one round trip.
type Vitals struct {
	// Info holds the INFO cpu and memory fields.
	Info map[string]string
	// ClusterInfo holds the CLUSTER INFO fields.
	ClusterInfo map[string]string
	// Nodes is the node's CLUSTER NODES; nil when not asked for.
	Nodes []cluster.Node
}

// Vitals pipelines INFO cpu memory, CLUSTER INFO and, with view, CLUSTER
// NODES to the node at addr. The error names the command that failed.
// CLUSTER NODES grows with the cluster, so its cost over all nodes grows
// with the square: callers on large clusters ask for it less often.
func (p *Pool) Vitals(ctx context.Context, addr string, view bool) (Vitals, error) {
	pipe := p.Client(addr).Pipeline()
	infoCmd := pipe.Info(ctx, "cpu", "memory")
	ciCmd := pipe.ClusterInfo(ctx)
	var cnCmd *redis.StringCmd
	if view {
		cnCmd = pipe.ClusterNodes(ctx)
	}
	_, _ = pipe.Exec(ctx)
	var v Vitals
	info, err := infoCmd.Result()
	if err != nil {
		return v, fmt.Errorf("INFO: %w", err)
	}
	ci, err := ciCmd.Result()
	if err != nil {
		return v, fmt.Errorf("CLUSTER INFO: %w", err)
	}
	v = Vitals{Info: cluster.ParseInfo(info), ClusterInfo: cluster.ParseInfo(ci)}
	if cnCmd == nil {
		return v, nil
	}
	cn, err := cnCmd.Result()
	if err != nil {
		return v, fmt.Errorf("CLUSTER NODES: %w", err)
	}
	if v.Nodes, err = cluster.ParseNodes(cn); err != nil {
		return v, err
	}
	return v, nil
}

// ScanOptions bound a ScanMemory.
type ScanOptions struct {
	// Batch is the SCAN COUNT hint and the MEMORY USAGE pipeline length.
	Batch int
	// Pause is the sleep between batches, to be gentle with production.
	Pause time.Duration
	// Budget ends the scan early (incomplete) once it has run this long.
	Budget time.Duration
}

// ScanMemory walks the keyspace of the node at addr with SCAN and calls
// visit with each key's MEMORY USAGE (keys gone since SCAN saw them are
// skipped). complete is false when the budget ended the scan first.
func (p *Pool) ScanMemory(ctx context.Context, addr string, opts ScanOptions, visit func(key string, bytes int64)) (complete bool, err error) {
	c := p.Client(addr)
	deadline := time.Now().Add(opts.Budget)
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "", int64(opts.Batch)).Result()
		if err != nil {
			return false, fmt.Errorf("SCAN: %w", err)
		}
		if len(keys) > 0 {
			cmds := make([]*redis.IntCmd, len(keys))
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, k := range keys {
					cmds[i] = p.MemoryUsage(ctx, k)
				}
				return nil
			})
			if err != nil && !errors.Is(err, redis.Nil) {
				return false, fmt.Errorf("MEMORY USAGE: %w", err)
			}
			for i, cmd := range cmds {
				if n, err := cmd.Result(); err == nil {
					visit(keys[i], n)
				}
			}
		}
		cursor = next
		if cursor == 0 {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(opts.Pause):
		}
	}
}
