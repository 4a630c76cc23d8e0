package migrate

import (
	"context"
	"fmt"
	"strings"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
)

// Protocol is how slots move between masters.
type Protocol string

// Protocols, as the report names them.
const (
	// ProtocolLegacy is SETSLOT/GETKEYSINSLOT/MIGRATE, key by key.
	ProtocolLegacy Protocol = "legacy"
	// ProtocolRedisASM is Redis 8.4's atomic slot migration: CLUSTER
	// MIGRATION IMPORT on the target.
	ProtocolRedisASM Protocol = "redis-asm"
	// ProtocolValkeyASM is Valkey 9's atomic slot migration: CLUSTER
	// MIGRATESLOTS on the source.
	ProtocolValkeyASM Protocol = "valkey-asm"
)

// Atomic tells whether p is a server-side atomic slot migration.
func (p Protocol) Atomic() bool { return p == ProtocolRedisASM || p == ProtocolValkeyASM }

// Capabilities is what one server supports beyond the legacy protocol.
type Capabilities struct {
	RedisASM  bool // CLUSTER MIGRATION (Redis >= 8.4)
	ValkeyASM bool // CLUSTER MIGRATESLOTS, GETSLOTMIGRATIONS, CANCELSLOTMIGRATIONS (Valkey >= 9.0)
	SlotStats bool // CLUSTER SLOT-STATS (Valkey >= 8.0, Redis >= 8.2)
}

// capabilityCommands are asked for with COMMAND INFO, in this order: a
// server that lacks a subcommand answers nil in its place. COMMAND INFO is
// read-only and needs no cluster state, so probing changes nothing.
var capabilityCommands = []string{
	"cluster|migration",
	"cluster|migrateslots",
	"cluster|getslotmigrations",
	"cluster|cancelslotmigrations",
	"cluster|slot-stats",
}

// ParseCapabilities reads the reply to COMMAND INFO capabilityCommands...
// (one entry per name, nil for an unknown command).
func ParseCapabilities(reply []any) Capabilities {
	known := map[string]bool{}
	for _, e := range reply {
		doc, ok := e.([]any)
		if !ok || len(doc) == 0 {
			continue
		}
		if name, ok := doc[0].(string); ok {
			known[strings.ToLower(name)] = true
		}
	}
	return Capabilities{
		RedisASM:  known["cluster|migration"],
		ValkeyASM: known["cluster|migrateslots"] && known["cluster|getslotmigrations"] && known["cluster|cancelslotmigrations"],
		SlotStats: known["cluster|slot-stats"],
	}
}

// ProbeCapabilities asks the server at addr what it supports. A server
// older than 7.0 rejects subcommand names in COMMAND INFO: that is no
// capability, not an error.
func ProbeCapabilities(ctx context.Context, pool *admin.Pool, addr string) (Capabilities, error) {
	args := []any{"COMMAND", "INFO"}
	for _, c := range capabilityCommands {
		args = append(args, c)
	}
	v, err := pool.Client(addr).Do(ctx, args...).Result()
	if err != nil {
		if isRedisErr(err) {
			return Capabilities{}, nil
		}
		return Capabilities{}, fmt.Errorf("probe %s: %w", addr, err)
	}
	reply, _ := v.([]any)
	return ParseCapabilities(reply), nil
}

// Common is what every one of caps supports.
func Common(caps []Capabilities) Capabilities {
	if len(caps) == 0 {
		return Capabilities{}
	}
	c := caps[0]
	for _, o := range caps[1:] {
		c.RedisASM = c.RedisASM && o.RedisASM
		c.ValkeyASM = c.ValkeyASM && o.ValkeyASM
		c.SlotStats = c.SlotStats && o.SlotStats
	}
	return c
}

// Choice is the outcome of ChooseProtocol.
type Choice struct {
	Protocol Protocol
	// Why says why this protocol was chosen, for the report.
	Why string
}

// ChooseProtocol picks the protocol for a --mover setting ("legacy",
// "atomic" or "auto"; "" is auto) given what every master supports. It
// fails only when "atomic" was asked for and some master lacks it; the
// error says which. missing names the masters without atomic migration.
func ChooseProtocol(want string, common Capabilities, missing []string) (Choice, error) {
	atomic := ProtocolLegacy
	switch {
	case common.ValkeyASM:
		atomic = ProtocolValkeyASM
	case common.RedisASM:
		atomic = ProtocolRedisASM
	}
	switch strings.ToLower(want) {
	case "legacy":
		return Choice{ProtocolLegacy, "--mover legacy"}, nil
	case "atomic":
		if atomic == ProtocolLegacy {
			return Choice{}, fmt.Errorf("--mover atomic: atomic slot migration needs Redis >= 8.4 (CLUSTER MIGRATION) or Valkey >= 9.0 (CLUSTER MIGRATESLOTS) on every master; not supported by %s", strings.Join(missing, ", "))
		}
		return Choice{atomic, "--mover atomic"}, nil
	case "", "auto":
		if atomic == ProtocolLegacy {
			why := "auto: no atomic slot migration on every master"
			if len(missing) > 0 {
				why += " (missing on " + strings.Join(missing, ", ") + ")"
			}
			return Choice{ProtocolLegacy, why}, nil
		}
		return Choice{atomic, "auto: every master supports atomic slot migration"}, nil
	}
	return Choice{}, fmt.Errorf("--mover %q: want legacy, atomic or auto", want)
}

// SlotKeyCounts reads every slot's key count from the masters with one
// CLUSTER SLOT-STATS SLOTSRANGE 0 16383 each (a master lists the slots it
// owns), instead of a COUNTKEYSINSLOT per slot.
func SlotKeyCounts(ctx context.Context, pool *admin.Pool, masters []string) (map[int]int64, error) {
	out := map[int]int64{}
	for _, m := range masters {
		v, err := pool.Client(m).Do(ctx, "CLUSTER", "SLOT-STATS", "SLOTSRANGE", 0, cluster.NumSlots-1).Result()
		if err != nil {
			return nil, fmt.Errorf("slot-stats on %s: %w", m, err)
		}
		for s, n := range SlotStatsKeyCounts(v) {
			out[s] = n
		}
	}
	return out, nil
}
