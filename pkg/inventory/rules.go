package inventory

import (
	"fmt"
	"regexp"
	"strings"
)

// Severity says whether a finding fails validation or only warns.
type Severity string

// Finding severities.
const (
	SeverityFail Severity = "fail"
	SeverityWarn Severity = "warn"
)

// Rule ids: stable, dotted, used as check ids in reports.
const (
	RuleUniqueServer       = "inventory.unique_server"
	RuleUniqueAddress      = "inventory.unique_address"
	RulePortRange          = "inventory.port_range"
	RuleReplicaOf          = "inventory.replica_of"
	RuleAntiAffinity       = "inventory.anti_affinity"
	RulePlacement          = "inventory.placement"
	RuleMastersMin         = "inventory.masters_min"
	RuleOddServers         = "inventory.odd_servers"
	RuleNewServersInPairs  = "inventory.new_servers_in_pairs"
	RuleMasterHasReplica   = "inventory.master_has_replica"
	RulePasswordEnv        = "inventory.password_env"
	RulePassword           = "inventory.password"
	RuleGates              = "inventory.gates"
	RuleSettings           = "inventory.settings"
	RuleExporterPorts      = "inventory.exporter_ports"
	MinMasters             = 3
	totalSlots             = 16384
	maxPercentThresholdPct = 100
)

// Rules lists every rule id Check and CheckSecrets may report, so that a
// report can show the rules that passed too.
var Rules = []string{
	RuleUniqueServer, RuleUniqueAddress, RulePortRange, RuleReplicaOf,
	RuleAntiAffinity, RulePlacement, RuleMastersMin, RuleOddServers,
	RuleNewServersInPairs, RuleMasterHasReplica, RulePasswordEnv, RuleGates,
	RuleSettings, RuleExporterPorts,
}

// Finding is one rule that an inventory breaks.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Field    string   `json:"field,omitempty"` // key path, e.g. servers[1].nodes[0].replica_of
	File     string   `json:"file,omitempty"`
	Line     int      `json:"line,omitempty"`
	Node     string   `json:"node,omitempty"` // address:port of a node, or a server name
}

type checker struct {
	inv      *Inventory
	findings []Finding
}

func (c *checker) add(id string, sev Severity, field string, line int, node, format string, args ...any) {
	c.findings = append(c.findings, Finding{
		ID: id, Severity: sev, Field: field, File: c.inv.Source, Line: line, Node: node,
		Message: fmt.Sprintf(format, args...),
	})
}

// Check applies the inventory rules and returns what they found, in a
// stable order; nil means every rule passed. base is the inventory the
// change starts from (the PR's base); servers absent from it are new and
// must come in pairs. base may be nil. Replicas without replica_of are
// placed (PlaceReplicas, with no live assignments) to judge the result.
// Check is pure and never reads secrets: see CheckSecrets.
func Check(inv *Inventory, base *Inventory) []Finding {
	c := &checker{inv: inv}
	c.uniqueServers()
	c.ports()
	c.uniqueAddresses()
	c.exporterPorts()
	c.replicaOf()
	c.placement()
	c.mastersMin()
	c.oddServers()
	if base != nil {
		c.newServersInPairs(base)
	}
	c.passwordEnv()
	c.gates()
	c.settings()
	return c.findings
}

func (c *checker) uniqueServers() {
	first := map[string]int{}
	for i, s := range c.inv.Servers {
		if j, dup := first[s.Name]; dup {
			c.add(RuleUniqueServer, SeverityFail, fmt.Sprintf("servers[%d].name", i), s.Line, s.Name,
				"server name %q is used twice (servers[%d] at line %d and servers[%d]); server names must be unique", s.Name, j, c.inv.Servers[j].Line, i)
			continue
		}
		first[s.Name] = i
	}
}

func (c *checker) ports() {
	for _, r := range c.inv.Nodes() {
		if r.Port < 1 || r.Port > MaxPort {
			c.add(RulePortRange, SeverityFail, r.Field()+".port", r.Line, r.Addr(),
				"node %s: port %d is out of range 1..%d (the cluster bus uses port+%d, which must stay <= 65535)", r.Name(), r.Port, MaxPort, BusPortOffset)
		}
	}
}

func (c *checker) uniqueAddresses() {
	type use struct {
		ref NodeRef
		bus bool
	}
	taken := map[string]use{}
	nodes := c.inv.Nodes()
	for _, r := range nodes {
		if u, dup := taken[r.Addr()]; dup && !u.bus {
			c.add(RuleUniqueAddress, SeverityFail, r.Field()+".port", r.Line, r.Addr(),
				"node %s: address %s is already used by node %s (line %d)", r.Name(), r.Addr(), u.ref.Name(), u.ref.Line)
			continue
		}
		taken[r.Addr()] = use{ref: r}
	}
	// Bus ports second, so a clash is reported on the node whose bus
	// port lands on another node's port whatever their order.
	for _, r := range nodes {
		if u, clash := taken[r.BusAddr()]; clash && !u.bus && r.Port > 0 {
			c.add(RuleUniqueAddress, SeverityFail, r.Field()+".port", r.Line, r.Addr(),
				"node %s: its cluster bus port %s is node %s's port (line %d)", r.Name(), r.BusAddr(), u.ref.Name(), u.ref.Line)
		}
	}
}

func (c *checker) replicaOf() {
	nodes := c.inv.Nodes()
	byName, byAddr := map[string]NodeRef{}, map[string]NodeRef{}
	for _, r := range nodes {
		if _, dup := byName[r.Name()]; !dup {
			byName[r.Name()] = r
		}
		if _, dup := byAddr[r.Addr()]; !dup {
			byAddr[r.Addr()] = r
		}
	}
	for _, r := range nodes {
		field := r.Field() + ".replica_of"
		if r.Role == RoleMaster {
			if r.ReplicaOf != "" {
				c.add(RuleReplicaOf, SeverityFail, field, r.Line, r.Addr(),
					"node %s is a master but has replica_of %q; remove replica_of or make it a replica", r.Name(), r.ReplicaOf)
			}
			continue
		}
		if r.Role != RoleReplica || r.ReplicaOf == "" {
			continue
		}
		if _, _, ok := SplitNodeName(r.ReplicaOf); !ok {
			c.add(RuleReplicaOf, SeverityFail, field, r.Line, r.Addr(),
				"replica %s: replica_of %q is not of the form server:port", r.Name(), r.ReplicaOf)
			continue
		}
		m, ok := byName[r.ReplicaOf]
		if !ok {
			msg := fmt.Sprintf("replica %s: replica_of %q names no node in the inventory", r.Name(), r.ReplicaOf)
			if other, ok := byAddr[r.ReplicaOf]; ok {
				msg += fmt.Sprintf("; replica_of takes server:port, did you mean %q?", other.Name())
			}
			c.add(RuleReplicaOf, SeverityFail, field, r.Line, r.Addr(), "%s", msg)
			continue
		}
		if m.Role != RoleMaster {
			c.add(RuleReplicaOf, SeverityFail, field, r.Line, r.Addr(),
				"replica %s: replica_of %q is a %s, not a master", r.Name(), r.ReplicaOf, m.Role)
			continue
		}
		if m.Server == r.Server {
			c.add(RuleAntiAffinity, SeverityFail, field, r.Line, r.Addr(),
				"replica %s follows master %s on the same server %q; a replica must run on another server so that losing %s does not lose both", r.Name(), m.Name(), r.Server, r.Server)
		}
	}
}

// placement judges the topology after automatic placement: which masters
// end up without a replica, and which replicas cannot be placed.
func (c *checker) placement() {
	p := placement(c.inv, nil)
	for _, r := range p.unplaced {
		c.add(RulePlacement, SeverityFail, r.Field()+".replica_of", r.Line, r.Addr(),
			"replica %s cannot be placed: every master is on its own server %q", r.Name(), r.Server)
	}
	followers := map[string]int{}
	for _, m := range p.assign {
		followers[m]++
	}
	auto := false
	for _, r := range c.inv.Replicas() {
		auto = auto || r.ReplicaOf == ""
	}
	for _, m := range c.inv.Masters() {
		if followers[m.Name()] > 0 {
			continue
		}
		how := ""
		if auto {
			how = " (after placing the replicas without replica_of)"
		}
		c.add(RuleMasterHasReplica, SeverityFail, m.Field(), m.Line, m.Addr(),
			"master %s has no replica%s; add a replica on another server so that its slots survive losing %s", m.Name(), how, m.Server)
	}
}

func (c *checker) mastersMin() {
	masters := c.inv.Masters()
	if len(masters) >= MinMasters {
		return
	}
	line := 0
	if len(c.inv.Servers) > 0 {
		line = c.inv.Servers[0].Line
	}
	names := make([]string, len(masters))
	for i, m := range masters {
		names[i] = m.Name()
	}
	c.add(RuleMastersMin, SeverityFail, "servers", line, "",
		"%d master(s) (%s); a Redis Cluster needs at least %d masters to keep a majority when one fails", len(masters), strings.Join(names, ", "), MinMasters)
}

func (c *checker) oddServers() {
	n := len(c.inv.Servers)
	if n == 0 || n%2 == 1 {
		return
	}
	sev, how := SeverityWarn, "warning; set validate.require_odd_servers to make it a failure"
	if c.inv.Validate.RequireOddServers {
		sev, how = SeverityFail, "validate.require_odd_servers is set"
	}
	last := c.inv.Servers[n-1]
	c.add(RuleOddServers, sev, "servers", last.Line, last.Name,
		"%d servers is an even number; use an odd number of servers (add them in pairs) so that a majority survives losing one (%s)", n, how)
}

func (c *checker) newServersInPairs(base *Inventory) {
	old := map[string]bool{}
	for _, s := range base.Servers {
		old[s.Name] = true
	}
	var added []Server
	for _, s := range c.inv.Servers {
		if !old[s.Name] {
			added = append(added, s)
		}
	}
	if len(added)%2 == 0 {
		return
	}
	names := make([]string, len(added))
	for i, s := range added {
		names[i] = s.Name
	}
	c.add(RuleNewServersInPairs, SeverityFail, "servers", added[0].Line, added[0].Name,
		"%d new server(s) relative to %s (%s); add servers in pairs, each one's replica following the other's master, to keep an odd number of servers",
		len(added), orDefault(base.Source, "the base inventory"), strings.Join(names, ", "))
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *checker) passwordEnv() {
	for _, f := range []struct{ field, val string }{
		{"cluster.password_env", c.inv.Cluster.PasswordEnv},
		{"cluster.user_env", c.inv.Cluster.UserEnv},
	} {
		switch {
		case f.val == "" && f.field == "cluster.password_env":
			c.add(RulePasswordEnv, SeverityFail, f.field, c.inv.Cluster.Line, "",
				"%s is empty; name the environment variable that holds the cluster password (default %s)", f.field, DefaultPasswordEnv)
		case f.val != "" && !envNameRE.MatchString(f.val):
			// The value may be the secret itself: never echo it.
			c.add(RulePasswordEnv, SeverityFail, f.field, c.inv.Cluster.Line, "",
				"%s does not look like an environment variable name (letters, digits, underscore); it must name the variable, not hold the secret (value not shown)", f.field)
		}
	}
}

// CheckSecrets checks the secrets the inventory names, as found by getenv:
// the password must be set and at least MinPasswordLength characters, and
// the user variable, when named, must be set. Messages name variables and
// requirements, never values or their lengths.
func CheckSecrets(inv *Inventory, getenv func(string) string) []Finding {
	c := &checker{inv: inv}
	name := orDefault(inv.Cluster.PasswordEnv, DefaultPasswordEnv)
	switch v := getenv(name); {
	case v == "":
		c.add(RulePassword, SeverityFail, "cluster.password_env", inv.Cluster.Line, "",
			"environment variable %s (cluster.password_env) is not set; it must hold the cluster password (requirepass and masterauth)", name)
	case len([]rune(v)) < MinPasswordLength:
		c.add(RulePassword, SeverityFail, "cluster.password_env", inv.Cluster.Line, "",
			"the password in %s is too short; use at least %d characters", name, MinPasswordLength)
	}
	if u := inv.Cluster.UserEnv; u != "" && getenv(u) == "" {
		c.add(RulePassword, SeverityFail, "cluster.user_env", inv.Cluster.Line, "",
			"environment variable %s (cluster.user_env) is not set", u)
	}
	return c.findings
}

func (c *checker) gates() {
	g := c.inv.Gates
	type gate struct {
		name    string
		t       Threshold
		percent bool
	}
	gates := []gate{
		{"latency_avg_ms", g.LatencyAvgMS, false},
		{"latency_p99_ms", g.LatencyP99MS, false},
		{"replication_lag_ms", g.ReplicationLagMS, false},
		{"cpu_percent", g.CPUPercent, true},
		{"memory_percent", g.MemoryPercent, true},
		{"network_percent", g.NetworkPercent, true},
	}
	// The variation gate is off unless set; a variation may exceed 100%.
	if v := g.LatencyVariationPercent; v.Hold != 0 || v.Abort != 0 {
		gates = append(gates, gate{"latency_variation_percent", v, false})
	}
	for _, x := range gates {
		field := "gates." + x.name
		line := x.t.Line
		if line == 0 {
			line = g.Line
		}
		switch {
		case x.t.Hold <= 0 || x.t.Abort <= 0:
			c.add(RuleGates, SeverityFail, field, line, "",
				"%s: hold %g and abort %g must both be positive", field, x.t.Hold, x.t.Abort)
		case x.t.Hold >= x.t.Abort:
			c.add(RuleGates, SeverityFail, field, line, "",
				"%s: hold %g must be below abort %g (a run waits above hold and stops above abort)", field, x.t.Hold, x.t.Abort)
		case x.percent && x.t.Abort > maxPercentThresholdPct:
			c.add(RuleGates, SeverityFail, field, line, "",
				"%s: abort %g is over 100%%, so it can never trigger", field, x.t.Abort)
		}
	}
	if g.HoldTimeout.Duration <= 0 {
		c.add(RuleGates, SeverityFail, "gates.hold_timeout", g.Line, "",
			"gates.hold_timeout %s must be positive", g.HoldTimeout)
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"baseline_window", g.BaselineWindow}, {"abort_recheck", g.AbortRecheck}} {
		if d.v.Duration <= 0 {
			c.add(RuleGates, SeverityFail, "gates."+d.name, g.Line, "",
				"gates.%s %s must be positive", d.name, d.v)
		}
	}
}

func (c *checker) settings() {
	inv := c.inv
	if inv.Cluster.NodeTimeoutMS <= 0 {
		c.add(RuleSettings, SeverityFail, "cluster.node_timeout_ms", inv.Cluster.Line, "",
			"cluster.node_timeout_ms %d must be positive", inv.Cluster.NodeTimeoutMS)
	}
	if b := inv.Rebalance.BatchSlots; b < 1 || b > totalSlots {
		c.add(RuleSettings, SeverityFail, "rebalance.batch_slots", inv.Rebalance.Line, "",
			"rebalance.batch_slots %d must be within 1..%d", b, totalSlots)
	}
	if t := inv.Rebalance.ThresholdPercent; t < 0 || t > 100 {
		c.add(RuleSettings, SeverityFail, "rebalance.threshold_percent", inv.Rebalance.Line, "",
			"rebalance.threshold_percent %g must be within 0..100", t)
	}
	if inv.Rebalance.PauseBetweenBatches.Duration < 0 {
		c.add(RuleSettings, SeverityFail, "rebalance.pause_between_batches", inv.Rebalance.Line, "",
			"rebalance.pause_between_batches %s must not be negative", inv.Rebalance.PauseBetweenBatches)
	}
	if v := inv.Validate; v.BigKeyWarnBytes > v.BigKeyFailBytes && v.BigKeyFailBytes > 0 {
		c.add(RuleSettings, SeverityFail, "validate.big_key_warn_bytes", v.Line, "",
			"validate.big_key_warn_bytes %d must not exceed big_key_fail_bytes %d", v.BigKeyWarnBytes, v.BigKeyFailBytes)
	}
	drained := 0
	for _, s := range inv.Servers {
		if s.EffectiveWeight() == 0 {
			drained++
		}
	}
	if drained > 0 && drained == len(inv.Servers) {
		c.add(RuleSettings, SeverityFail, "servers", inv.Servers[0].Line, "",
			"every server has weight 0; at least one must hold slots")
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
