package migrate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
)

// Pending is an atomic slot migration task still running on a node, e.g.
// one a killed run started.
type Pending struct {
	Addr     string // the node that runs it: Redis' target, Valkey's source
	Protocol Protocol
	ID       string
	Slots    string
	State    string
}

func (p Pending) String() string {
	return fmt.Sprintf("%s on %s (slots %s, %s)", p.ID, p.Addr, p.Slots, p.State)
}

// redisFinal and valkeyFinal are the states a task never leaves.
var (
	redisFinal  = map[string]bool{"completed": true, "canceled": true}
	valkeyFinal = map[string]bool{"success": true, "failed": true, "cancelled": true}
)

// PendingTasks lists the unfinished atomic migration tasks on masters: the
// imports of Redis targets, the exports of Valkey sources.
func PendingTasks(ctx context.Context, pool *admin.Pool, proto Protocol, masters []string) ([]Pending, error) {
	var out []Pending
	for _, addr := range masters {
		var rows []map[string]string
		switch proto {
		case ProtocolRedisASM:
			v, err := pool.Client(addr).Do(ctx, "CLUSTER", "MIGRATION", "STATUS", "ALL").Result()
			if err != nil {
				return nil, fmt.Errorf("migration status on %s: %w", addr, err)
			}
			for _, r := range v.([]any) {
				if m := pairs(r); m["operation"] == "import" && !redisFinal[m["state"]] {
					rows = append(rows, map[string]string{"id": m["id"], "slots": m["slots"], "state": m["state"]})
				}
			}
		case ProtocolValkeyASM:
			v, err := pool.Client(addr).Do(ctx, "CLUSTER", "GETSLOTMIGRATIONS").Result()
			if err != nil {
				return nil, fmt.Errorf("slot migrations on %s: %w", addr, err)
			}
			for _, m := range parseValkeyJobs(v) {
				if strings.EqualFold(m["operation"], "export") && !valkeyFinal[m["state"]] {
					rows = append(rows, map[string]string{"id": m["name"], "slots": m["slot_ranges"], "state": m["state"]})
				}
			}
		default:
			return nil, nil
		}
		for _, r := range rows {
			out = append(out, Pending{Addr: addr, Protocol: proto, ID: r["id"], Slots: r["slots"], State: r["state"]})
		}
	}
	return out, nil
}

// SettlePending waits up to wait for the pending tasks to end; with cancel
// set, or once wait has passed, it cancels those still running and waits
// for the cancellation. Either way no range is left half-owned: a task's
// target owns all of its ranges or none. It returns what it did.
func SettlePending(ctx context.Context, pool *admin.Pool, pending []Pending, wait time.Duration, cancel bool) (string, error) {
	if len(pending) == 0 {
		return "", nil
	}
	masters := map[string]bool{}
	var addrs []string
	for _, p := range pending {
		if !masters[p.Addr] {
			masters[p.Addr] = true
			addrs = append(addrs, p.Addr)
		}
	}
	proto := pending[0].Protocol
	deadline := time.Now().Add(wait)
	cancelled := false
	for {
		left, err := PendingTasks(ctx, pool, proto, addrs)
		if err != nil {
			return "", err
		}
		if len(left) == 0 {
			if cancelled {
				return fmt.Sprintf("cancelled what still ran of %d task(s) of an earlier run", len(pending)), nil
			}
			return fmt.Sprintf("waited for %d task(s) of an earlier run to finish", len(pending)), nil
		}
		if (cancel || time.Now().After(deadline)) && !cancelled {
			for _, p := range left {
				if err := cancelPending(ctx, pool, p); err != nil {
					return "", err
				}
			}
			cancelled, deadline = true, time.Now().Add(30*time.Second)
		} else if cancelled && time.Now().After(deadline) {
			return "", fmt.Errorf("tasks still running 30s after cancelling them: %v", left)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return "", err
		}
	}
}

func cancelPending(ctx context.Context, pool *admin.Pool, p Pending) error {
	var err error
	switch p.Protocol {
	case ProtocolRedisASM:
		err = pool.Client(p.Addr).Do(ctx, "CLUSTER", "MIGRATION", "CANCEL", "ID", p.ID).Err()
	case ProtocolValkeyASM:
		err = valkeyASM{pool}.cancel(ctx, Task{FromAddr: p.Addr}, "")
	}
	if err != nil {
		return fmt.Errorf("cancel %s: %w", p, err)
	}
	return nil
}
