package admin

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// Meet sends CLUSTER MEET ip port [busPort] to the node at addr. busPort 0
// lets Redis assume port+inventory.BusPortOffset.
func (p *Pool) Meet(ctx context.Context, addr, ip string, port, busPort int) error {
	args := []any{"CLUSTER", "MEET", ip, port}
	if busPort != 0 {
		args = append(args, busPort)
	}
	op := fmt.Sprintf("CLUSTER MEET %s %d", ip, port)
	return wrap(addr, op, p.Client(addr).Do(ctx, args...).Err())
}

// Replicate makes the node at addr a replica of masterID (CLUSTER
// REPLICATE). See IsUnknownNode for a master it has not learnt of yet.
func (p *Pool) Replicate(ctx context.Context, addr, masterID string) error {
	return wrap(addr, "CLUSTER REPLICATE "+masterID, p.Client(addr).ClusterReplicate(ctx, masterID).Err())
}

// AddSlotsRange assigns ranges to the node at addr (CLUSTER ADDSLOTSRANGE).
func (p *Pool) AddSlotsRange(ctx context.Context, addr string, ranges []cluster.Range) error {
	if len(ranges) == 0 {
		return nil
	}
	args := []any{"CLUSTER", "ADDSLOTSRANGE"}
	names := make([]string, len(ranges))
	for i, r := range ranges {
		args = append(args, r.Start, r.End)
		names[i] = r.String()
	}
	op := "CLUSTER ADDSLOTSRANGE " + strings.Join(names, ",")
	return wrap(addr, op, p.Client(addr).Do(ctx, args...).Err())
}

// SetConfigEpoch sets a fresh node's config epoch (CLUSTER
// SET-CONFIG-EPOCH); Redis refuses once the node knows other nodes.
func (p *Pool) SetConfigEpoch(ctx context.Context, addr string, epoch int64) error {
	op := "CLUSTER SET-CONFIG-EPOCH " + strconv.FormatInt(epoch, 10)
	return wrap(addr, op, p.Client(addr).Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", epoch).Err())
}

// Forget removes node id from the node at addr's view for 60 s (CLUSTER
// FORGET); it must be sent to every node to remove a node for good.
func (p *Pool) Forget(ctx context.Context, addr, id string) error {
	return wrap(addr, "CLUSTER FORGET "+id, p.Client(addr).ClusterForget(ctx, id).Err())
}

// Reset runs CLUSTER RESET SOFT, or HARD (which also gives the node a new
// id and zeroes its epochs).
func (p *Pool) Reset(ctx context.Context, addr string, hard bool) error {
	mode := "SOFT"
	if hard {
		mode = "HARD"
	}
	return wrap(addr, "CLUSTER RESET "+mode, p.Client(addr).Do(ctx, "CLUSTER", "RESET", mode).Err())
}

// MyID returns the node's own id (CLUSTER MYID).
func (p *Pool) MyID(ctx context.Context, addr string) (string, error) {
	id, err := p.Client(addr).ClusterMyID(ctx).Result()
	return id, wrap(addr, "CLUSTER MYID", err)
}

// Slot states for SetSlot.
const (
	SlotImporting = "IMPORTING"
	SlotMigrating = "MIGRATING"
	SlotNode      = "NODE"
	SlotStable    = "STABLE"
)

// SetSlot runs CLUSTER SETSLOT slot state [id]. state is one of
// SlotImporting, SlotMigrating, SlotNode (id = the source, target or new
// owner) or SlotStable (id ignored).
func (p *Pool) SetSlot(ctx context.Context, addr string, slot int, state, id string) error {
	state = strings.ToUpper(state)
	args := []any{"CLUSTER", "SETSLOT", slot, state}
	op := fmt.Sprintf("CLUSTER SETSLOT %d %s", slot, state)
	switch state {
	case SlotImporting, SlotMigrating, SlotNode:
		if id == "" {
			return wrap(addr, op, fmt.Errorf("%s needs a node id", state))
		}
		args = append(args, id)
		op += " " + id
	case SlotStable:
	default:
		return wrap(addr, op, fmt.Errorf("unknown slot state %q (want IMPORTING, MIGRATING, NODE or STABLE)", state))
	}
	return wrap(addr, op, p.Client(addr).Do(ctx, args...).Err())
}

// CountKeysInSlot returns the number of keys the node holds in slot.
func (p *Pool) CountKeysInSlot(ctx context.Context, addr string, slot int) (int64, error) {
	n, err := p.Client(addr).ClusterCountKeysInSlot(ctx, slot).Result()
	return n, wrap(addr, fmt.Sprintf("CLUSTER COUNTKEYSINSLOT %d", slot), err)
}

// CountKeysInSlots returns the number of keys the node holds in each of
// slots, in order, from one pipeline: the server keeps a count per slot,
// so this is one round trip however many slots are asked.
func (p *Pool) CountKeysInSlots(ctx context.Context, addr string, slots []int) ([]int64, error) {
	pipe := p.Client(addr).Pipeline()
	cmds := make([]*redis.IntCmd, len(slots))
	for i, s := range slots {
		cmds[i] = pipe.ClusterCountKeysInSlot(ctx, s)
	}
	_, _ = pipe.Exec(ctx)
	out := make([]int64, len(slots))
	for i, s := range slots {
		n, err := cmds[i].Result()
		if err != nil {
			return nil, wrap(addr, fmt.Sprintf("CLUSTER COUNTKEYSINSLOT %d", s), err)
		}
		out[i] = n
	}
	return out, nil
}

// GetKeysInSlot returns up to count keys the node holds in slot.
func (p *Pool) GetKeysInSlot(ctx context.Context, addr string, slot, count int) ([]string, error) {
	keys, err := p.Client(addr).ClusterGetKeysInSlot(ctx, slot, count).Result()
	return keys, wrap(addr, fmt.Sprintf("CLUSTER GETKEYSINSLOT %d %d", slot, count), err)
}

// DBSize returns the number of keys on the node.
func (p *Pool) DBSize(ctx context.Context, addr string) (int64, error) {
	n, err := p.Client(addr).DBSize(ctx).Result()
	return n, wrap(addr, "DBSIZE", err)
}

// FunctionDump returns the node's serialized function libraries.
func (p *Pool) FunctionDump(ctx context.Context, addr string) (string, error) {
	s, err := p.Client(addr).FunctionDump(ctx).Result()
	return s, wrap(addr, "FUNCTION DUMP", err)
}

// FunctionRestore loads a FunctionDump payload. policy is "" (Redis'
// default, APPEND), "APPEND", "REPLACE" or "FLUSH".
func (p *Pool) FunctionRestore(ctx context.Context, addr, payload, policy string) error {
	args := []any{"FUNCTION", "RESTORE", payload}
	if policy != "" {
		args = append(args, strings.ToUpper(policy))
	}
	return wrap(addr, "FUNCTION RESTORE", p.Client(addr).Do(ctx, args...).Err())
}

// MigrateOptions tune Migrate.
type MigrateOptions struct {
	// Timeout is MIGRATE's own I/O timeout towards the target. Default 10s.
	Timeout time.Duration
	// Replace overwrites keys that already exist on the target (BUSYKEY
	// otherwise).
	Replace bool
}

// MigrateArgs is the MIGRATE … KEYS command that moves keys to host:port,
// authenticating to the target as username (AUTH2) or with the password
// alone (AUTH) when they are set. Redis redacts these in SLOWLOG and
// MONITOR; the arguments must never be logged.
func MigrateArgs(host, port string, keys []string, opts MigrateOptions, username, password string) []any {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	args := make([]any, 0, 11+len(keys))
	args = append(args, "MIGRATE", host, port, "", 0, opts.Timeout.Milliseconds())
	if opts.Replace {
		args = append(args, "REPLACE")
	}
	switch {
	case username != "":
		args = append(args, "AUTH2", username, password)
	case password != "":
		args = append(args, "AUTH", password)
	}
	args = append(args, "KEYS")
	for _, k := range keys {
		args = append(args, k)
	}
	return args
}

// Migrate moves keys from the node at addr to host:port with MIGRATE …
// KEYS, authenticating to the target with the pool's credentials (AUTH, or
// AUTH2 when a username is set). It returns false when none of the keys
// existed any more (NOKEY).
func (p *Pool) Migrate(ctx context.Context, addr, host string, port int, keys []string, opts MigrateOptions) (bool, error) {
	if len(keys) == 0 {
		return false, nil
	}
	args := MigrateArgs(host, strconv.Itoa(port), keys, opts, p.opts.Username, p.opts.Password)
	// The op names the target and the key count, never the credentials.
	op := fmt.Sprintf("MIGRATE %d keys to %s:%d", len(keys), host, port)
	res, err := p.Client(addr).Do(ctx, args...).Text()
	if err != nil {
		return false, wrap(addr, op, err)
	}
	return res != "NOKEY", nil
}

// ConfigSet sets one directive live (CONFIG SET).
func (p *Pool) ConfigSet(ctx context.Context, addr, key, value string) error {
	return wrap(addr, "CONFIG SET "+key, p.Client(addr).ConfigSet(ctx, key, value).Err())
}
