package monitoring

import (
	"fmt"
	"strconv"

	"github.com/slotshift/slotshift/pkg/inventory"
)

// Rule is one Prometheus alerting rule.
type Rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// RuleGroup is one group of a Prometheus rule file.
type RuleGroup struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

type ruleFile struct {
	Groups []RuleGroup `yaml:"groups"`
}

// Alert severities (the severity label).
const (
	SeverityWarning  = "warning"  // a gate's hold threshold: slotshift would wait
	SeverityCritical = "critical" // a gate's abort threshold, or the cluster is broken
)

// How long a condition must last before its alert fires. A new master
// reports cluster_state:fail for a few seconds after it joins, so nothing
// fires on a single evaluation.
const (
	forAvailability = "1m"
	forGate         = "2m"
	forPlacement    = "5m"
)

// slotCount is the number of hash slots in a Redis Cluster.
const slotCount = 16384

// adminCommands are left out of latency: slow by nature (MIGRATE, KEYS,
// SAVE) or the exporter's and slotshift's own bookkeeping (INFO, CONFIG,
// CLUSTER, CLIENT…); clients' commands are what the gates protect.
const adminCommands = "cluster.*|config.*|client.*|slowlog.*|latency.*|memory.*|module.*|acl.*|command.*|debug.*|replconf.*|" +
	"info|migrate|restore-asking|keys|scan|save|bgsave|bgrewriteaof|flushall|flushdb|monitor|sync|psync|auth|hello"

// nodeLabels are the labels per-node aggregations keep.
const nodeLabels = "instance, cluster, server, node"

// Expressions shared by rules and dashboard panels: w is a range ("1m",
// "$__rate_interval"), m are extra matchers (one node's, on a panel).
func cpuPercent(inv *inventory.Inventory, w string, m ...string) string {
	return fmt.Sprintf("100 * (rate(%s[%s]) + rate(%s[%s]))",
		sel(inv, "redis_cpu_sys_seconds_total", m...), w, sel(inv, "redis_cpu_user_seconds_total", m...), w)
}

// memoryPercent is used memory against maxmemory, or against the machine's
// memory when maxmemory is 0 (as the memory gate does); the latter needs
// the exporter's -include-system-metrics.
func memoryPercent(inv *inventory.Inventory, m ...string) string {
	used, limit := sel(inv, "redis_memory_used_bytes", m...), sel(inv, "redis_memory_max_bytes", m...)
	return fmt.Sprintf("(100 * %s / (%s > 0) or 100 * %s / (%s and on (instance) %s == 0))",
		used, limit, used, sel(inv, "redis_total_system_memory_bytes", m...), limit)
}

func latencyAvgMS(inv *inventory.Inventory, w string, m ...string) string {
	m = append([]string{"cmd!~" + quote(adminCommands)}, m...)
	return fmt.Sprintf("1000 * sum by (%s) (rate(%s[%s])) / sum by (%s) (rate(%s[%s]))",
		nodeLabels, sel(inv, "redis_commands_duration_seconds_total", m...), w,
		nodeLabels, sel(inv, "redis_commands_total", m...), w)
}

func latencyP99MS(inv *inventory.Inventory, m ...string) string {
	m = append([]string{`quantile="99"`, "cmd!~" + quote(adminCommands)}, m...)
	return fmt.Sprintf("max by (%s) (%s) / 1000", nodeLabels, sel(inv, "redis_latency_percentiles_usec", m...))
}

// replicationLagMS is the replication lag beyond Redis' own acknowledgement
// cadence: a healthy replica acknowledges every second, so its master reads
// a lag of 0 or 1 whole seconds between acknowledgements. One second is
// taken off, so a gate in milliseconds compares with the lag that is really
// late, and a healthy cluster never alerts.
func replicationLagMS(inv *inventory.Inventory, w string) string {
	return fmt.Sprintf("1000 * clamp_min(min_over_time(%s[%s]) - 1, 0)", sel(inv, "redis_connected_slave_lag_seconds"), w)
}

// gate is one inventory gate turned into a warning and a critical rule.
type gate struct {
	alert, field, what, unit string
	expr                     string
	t                        inventory.Threshold
	note                     string
}

func gates(inv *inventory.Inventory, w string) []gate {
	g := inv.Gates
	return []gate{
		{"RedisCPUHigh", "cpu_percent", "CPU (sys+user, % of one core)", "%", cpuPercent(inv, w), g.CPUPercent, ""},
		{"RedisMemoryHigh", "memory_percent", "memory used (% of maxmemory, else of the machine)", "%", memoryPercent(inv), g.MemoryPercent, ""},
		{"RedisLatencyAvgHigh", "latency_avg_ms", "average command time", " ms", latencyAvgMS(inv, w), g.LatencyAvgMS,
			" Measured inside Redis per command, so network time is not included."},
		{"RedisLatencyP99High", "latency_p99_ms", "p99 command time", " ms", latencyP99MS(inv), g.LatencyP99MS,
			" Redis counts this percentile since start or CONFIG RESETSTAT, not over a window: reset the stats once the cause is fixed."},
		{"RedisReplicationLagHigh", "replication_lag_ms", "replication lag of replica {{ $labels.slave_ip }}:{{ $labels.slave_port }}", " ms",
			replicationLagMS(inv, w), g.ReplicationLagMS,
			" Redis reports the lag in whole seconds since the replica's last acknowledgement, which a healthy replica sends every second; that second is not counted, so the lag must stay at least 2 s for the whole window."},
	}
}

func (g gate) rules() []Rule {
	out := make([]Rule, 0, 2)
	for _, lv := range []struct {
		severity, limit string
		v               float64
	}{{SeverityWarning, "hold", g.t.Hold}, {SeverityCritical, "abort", g.t.Abort}} {
		v := strconv.FormatFloat(lv.v, 'g', -1, 64)
		out = append(out, Rule{
			Alert:  g.alert,
			Expr:   fmt.Sprintf("%s > %s", g.expr, v),
			For:    forGate,
			Labels: map[string]string{"severity": lv.severity, "gate": g.field},
			Annotations: map[string]string{
				"summary": fmt.Sprintf("{{ $labels.server }} {{ $labels.node }}: %s {{ $value | humanize }}%s, over %s%s", g.what, g.unit, v, g.unit),
				"description": fmt.Sprintf("Over the %s threshold of gates.%s (hold %g, abort %g): slotshift %s a rebalance at this level.%s",
					lv.limit, g.field, g.t.Hold, g.t.Abort, map[string]string{"hold": "holds", "abort": "aborts"}[lv.limit], g.note),
			},
		})
	}
	return out
}

// availability are the rules that say the cluster is broken or degraded,
// whatever the gates.
func availability(inv *inventory.Inventory) []Rule {
	nodes := len(inv.Nodes())
	r := func(alert, expr, forDur, severity, summary, description string) Rule {
		return Rule{Alert: alert, Expr: expr, For: forDur, Labels: map[string]string{"severity": severity},
			Annotations: map[string]string{"summary": summary, "description": description}}
	}
	return []Rule{
		r("RedisTargetsMissing", fmt.Sprintf("(count(%s) or vector(0)) < %d", sel(inv, "up"), nodes), forPlacement, SeverityWarning,
			fmt.Sprintf("Prometheus scrapes {{ $value }} of the %d nodes of cluster %s", nodes, inv.Cluster.Name),
			"The targets file is missing or older than the inventory: run slotshift monitoring again and reload Prometheus."),
		r("RedisExporterDown", sel(inv, "up")+" == 0", forAvailability, SeverityCritical,
			"{{ $labels.server }} {{ $labels.node }}: its redis_exporter at {{ $labels.instance }} does not answer",
			"Without the exporter nothing is known about this node."),
		r("RedisDown", sel(inv, "redis_up")+" == 0", forAvailability, SeverityCritical,
			"{{ $labels.server }} {{ $labels.node }}: Redis does not answer its exporter",
			"The node is down, or refuses the exporter's password."),
		r("RedisClusterStateFail", sel(inv, "redis_cluster_state")+" == 0", forAvailability, SeverityCritical,
			"{{ $labels.server }} {{ $labels.node }}: cluster_state is fail",
			"The node serves no queries: a slot is uncovered or a majority of masters is unreachable from it."),
		r("RedisClusterSlotsFail", sel(inv, "redis_cluster_slots_fail")+" > 0", forAvailability, SeverityCritical,
			"{{ $labels.server }} {{ $labels.node }}: {{ $value }} slots are served by a failed master",
			"A master is in FAIL state and no replica has taken over its slots."),
		r("RedisClusterSlotsPFail", sel(inv, "redis_cluster_slots_pfail")+" > 0", forAvailability, SeverityWarning,
			"{{ $labels.server }} {{ $labels.node }}: {{ $value }} slots are served by a master it cannot reach",
			"PFAIL: this node suspects a master; a majority agreeing makes it FAIL."),
		r("RedisClusterSlotsNotOK", fmt.Sprintf("%s < %d", sel(inv, "redis_cluster_slots_ok"), slotCount), forAvailability, SeverityCritical,
			fmt.Sprintf("{{ $labels.server }} {{ $labels.node }}: {{ $value }} of %d slots are ok", slotCount),
			"Some slots are unassigned or served by a failing master: keys in them cannot be read or written."),
		r("RedisReplicaLinkDown", sel(inv, "redis_master_link_up")+" == 0", forAvailability, SeverityCritical,
			"{{ $labels.server }} {{ $labels.node }}: replica's link to its master is down",
			"The replica is not replicating: its master's slots have no up-to-date copy."),
		r("RedisMasterWithoutReplica",
			fmt.Sprintf("%s == 0 and on (instance) %s", sel(inv, "redis_connected_slaves"), sel(inv, "redis_instance_info", `role="master"`)),
			forPlacement, SeverityWarning,
			"{{ $labels.server }} {{ $labels.node }}: master has no connected replica",
			"Losing this server would lose its slots' data; slotshift join attaches the replicas the inventory declares."),
	}
}

// Rules renders the alerting rule file and says how many rules it holds.
func Rules(inv *inventory.Inventory, opts Options) ([]byte, int, error) {
	opts = opts.withDefaults()
	rules := availability(inv)
	for _, g := range gates(inv, opts.window()) {
		rules = append(rules, g.rules()...)
	}
	f := ruleFile{Groups: []RuleGroup{{Name: JobName(inv), Rules: rules}}}
	b, err := encodeYAML(inv, "Prometheus alerting rules", f)
	if err != nil {
		return nil, 0, fmt.Errorf("monitoring: rules: %w", err)
	}
	return b, len(rules), nil
}
