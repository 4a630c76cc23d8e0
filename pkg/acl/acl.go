// Package acl lists the commands slotshift sends to the nodes, as the
// ACL DRYRUN calls that prove a user may run them, and holds the
// least-privilege ACL rule the README documents and provision renders. It
// does no I/O.
package acl

import (
	"slices"
	"strings"
)

// Rule is the least-privilege ACL rule for slotshift's user (after "user
// <name> on <password>"): every command of the pipeline's stages
// (validate, join, rebalance, verify, and backup, failover-test, load),
// on every key, and nothing else. The README quotes it and a test proves
// it passes validate and a full rebalance.
//
//   - +psync +replconf: replicas authenticate as this user (masteruser);
//   - +select +restore-asking +asking: MIGRATE runs SELECT and
//     RESTORE-ASKING on the target as the user given with AUTH2;
//   - +cluster|slots +cluster|shards +command: the cluster client (canary,
//     load) discovers the slot map and the commands' key positions;
//   - +acl|dryrun: lets validate prove the user's permissions;
//   - +readonly: rebalance lists and sizes keys on a source's replica.
const Rule = "resetkeys ~* resetchannels -@all " +
	"+ping +info +dbsize +lastsave +bgsave +scan +memory|usage +eval +readonly +multi +exec " +
	"+config|get +config|set " +
	"+cluster|info +cluster|nodes +cluster|slots +cluster|shards +command +cluster|myid +cluster|meet +cluster|replicate " +
	"+cluster|addslotsrange +cluster|set-config-epoch +cluster|forget +cluster|reset " +
	"+cluster|setslot +cluster|getkeysinslot +cluster|countkeysinslot +cluster|failover " +
	"+migrate +select +restore-asking +asking " +
	"+function|list +function|dump +function|restore " +
	"+get +set +del +mset " +
	"+psync +replconf +acl|dryrun"

// Command is one command slotshift sends, with placeholder arguments that
// ACL DRYRUN checks (commands and key patterns; it runs nothing). No
// argument is a secret: DRYRUN's arguments may reach SLOWLOG and MONITOR.
type Command struct {
	// Args are the command and its arguments, e.g. CLUSTER SETSLOT 0 STABLE.
	Args []string
	// Stages name the stages that send it.
	Stages []string
	// Without, when set, makes the command optional: it says what
	// slotshift does instead when the user may not run it.
	Without string
}

// Name is the command as an operator greps for it: "CLUSTER SETSLOT".
func (c Command) Name() string {
	switch strings.ToUpper(c.Args[0]) {
	case "CLUSTER", "CONFIG", "MEMORY", "FUNCTION", "ACL":
		if len(c.Args) < 2 {
			break
		}
		return strings.ToUpper(c.Args[0] + " " + c.Args[1])
	}
	return strings.ToUpper(c.Args[0])
}

// checkKey is the key DRYRUN judges key permissions with. DRYRUN can
// only try sample keys, and slotshift moves and reads every key, so the
// user needs ~* (all keys); a key outside any tool's own prefix catches a
// rule limited to one.
const checkKey = "any:key:acl-check"

// Commands returns every command slotshift sends to a node, as DRYRUN
// arguments. The list is kept in step with pkg/cluster/admin, pkg/migrate
// and pkg/gate: a command added there belongs here and in Rule.
func Commands() []Command {
	id := "0000000000000000000000000000000000000000" // a node id
	c := func(stages string, args ...string) Command {
		return Command{Args: args, Stages: strings.Fields(stages)}
	}
	return []Command{
		c("validate join rebalance verify", "PING"),
		c("validate join rebalance verify", "INFO", "all"),
		c("validate rebalance verify", "CONFIG", "GET", "maxmemory"),
		c("validate join rebalance verify", "CLUSTER", "INFO"),
		c("validate join rebalance verify", "CLUSTER", "NODES"),
		c("validate", "DBSIZE"),
		c("validate", "SCAN", "0", "COUNT", "100"),
		c("validate rebalance", "MEMORY", "USAGE", checkKey),
		c("join", "CLUSTER", "MYID"),
		c("join", "CLUSTER", "MEET", "127.0.0.1", "7000"),
		c("join", "CLUSTER", "REPLICATE", id),
		c("join", "CLUSTER", "ADDSLOTSRANGE", "0", "1"),
		c("join", "CLUSTER", "SET-CONFIG-EPOCH", "1"),
		c("join", "CLUSTER", "FORGET", id),
		c("join", "CLUSTER", "RESET", "HARD"),
		c("join", "FUNCTION", "LIST"),
		c("join", "FUNCTION", "DUMP"),
		c("join", "FUNCTION", "RESTORE", "payload", "REPLACE"),
		c("rebalance", "CLUSTER", "SETSLOT", "0", "STABLE"),
		c("rebalance", "CLUSTER", "SETSLOT", "0", "IMPORTING", id),
		c("rebalance", "CLUSTER", "GETKEYSINSLOT", "0", "10"),
		c("rebalance", "CLUSTER", "COUNTKEYSINSLOT", "0"),
		c("rebalance", "EVAL", "return 1", "0", "0", "10"),
		{Args: []string{"READONLY"}, Stages: []string{"rebalance"},
			Without: "rebalance lists and sizes keys on the masters instead of their replicas"},
		{Args: []string{"MULTI"}, Stages: []string{"rebalance"},
			Without: "the target takes each slot of a group with its own announcement (a PONG to every node per slot) instead of one per group"},
		{Args: []string{"EXEC"}, Stages: []string{"rebalance"},
			Without: "the target takes each slot of a group with its own announcement (a PONG to every node per slot) instead of one per group"},
		c("rebalance", "MIGRATE", "127.0.0.1", "7000", "", "0", "5000", "REPLACE", "AUTH2", "user", "password", "KEYS", checkKey),
		c("rebalance", "SELECT", "0"),
		c("rebalance", "RESTORE-ASKING", checkKey, "0", "payload", "REPLACE"),
		c("rebalance verify", "GET", checkKey),
		c("verify load", "CLUSTER", "SLOTS"),
		c("verify load", "CLUSTER", "SHARDS"),
		c("verify load", "COMMAND"),
		c("verify load", "SET", checkKey, "v", "PX", "60000"),
		c("verify load", "DEL", checkKey),
		c("load", "MSET", checkKey, "v"),
		c("backup", "LASTSAVE"),
		c("backup", "BGSAVE", "SCHEDULE"),
		c("backup", "CONFIG", "GET", "dir"),
		c("provision", "CONFIG", "SET", "maxmemory", "0"),
		c("failover-test", "CLUSTER", "FAILOVER"),
		c("replication", "PSYNC", "?", "-1"),
		c("replication", "REPLCONF", "listening-port", "7000"),
	}
}

// Server features that add commands to what slotshift sends. They are
// separate from Rule because a server without them refuses a rule that
// names their commands ("Unknown command"): add the matching Rule* to the
// user only on servers that have the feature.
const (
	// RuleRedisASM is added on Redis >= 8.4 (atomic slot migration).
	RuleRedisASM = "+cluster|migration"
	// RuleValkeyASM is added on Valkey >= 9.0 (atomic slot migration).
	RuleValkeyASM = "+cluster|migrateslots +cluster|getslotmigrations +cluster|cancelslotmigrations"
	// RuleSlotStats is added on Valkey >= 8.0 and Redis >= 8.2.
	RuleSlotStats = "+cluster|slot-stats"
)

// Features are the server features that add commands (see RuleRedisASM).
type Features struct {
	RedisASM, ValkeyASM, SlotStats bool
}

// FeatureCommands lists the commands slotshift sends because a server has
// f, as Commands does for every server.
func FeatureCommands(f Features) []Command {
	c := func(args ...string) Command { return Command{Args: args, Stages: []string{"rebalance"}} }
	var out []Command
	if f.RedisASM {
		out = append(out,
			c("CLUSTER", "MIGRATION", "IMPORT", "0", "1"),
			c("CLUSTER", "MIGRATION", "STATUS", "ALL"),
			c("CLUSTER", "MIGRATION", "CANCEL", "ID", "1"))
	}
	if f.ValkeyASM {
		out = append(out,
			c("CLUSTER", "MIGRATESLOTS", "SLOTSRANGE", "0", "1", "NODE", "0000000000000000000000000000000000000000"),
			c("CLUSTER", "GETSLOTMIGRATIONS"),
			c("CLUSTER", "CANCELSLOTMIGRATIONS"))
	}
	if f.SlotStats {
		out = append(out, c("CLUSTER", "SLOT-STATS", "SLOTSRANGE", "0", "1"))
	}
	return out
}

// FeatureRule is the rule to add to Rule on a server with f ("" without
// any feature).
func FeatureRule(f Features) string {
	var parts []string
	for _, r := range []struct {
		on   bool
		rule string
	}{{f.RedisASM, RuleRedisASM}, {f.ValkeyASM, RuleValkeyASM}, {f.SlotStats, RuleSlotStats}} {
		if r.on {
			parts = append(parts, r.rule)
		}
	}
	return strings.Join(parts, " ")
}

// Names lists the distinct command names of Commands, sorted.
func Names() []string {
	var out []string
	for _, c := range Commands() {
		if n := c.Name(); !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
