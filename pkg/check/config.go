package check

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/measure"
	"github.com/slotshift/slotshift/pkg/report"
)

// server and version (Valkey by valkey_version, not its compatibility
// redis_version). The message lists each version with its nodes; a Redis
// version is observed as the bare number, another server's with its name.
func CheckVersion(inv *inventory.Inventory, l Live) report.Check {
	byVersion := map[string][]string{}
	names := map[string]string{}
	for _, o := range l.Snap.Reachable() {
		name, v := cluster.Server(o.Info)
		if v == "" {
			v = "unknown"
		}
		if name != "Redis" {
			v = name + " " + v
		}
		names[v] = name
		byVersion[v] = append(byVersion[v], Label(inv, o.Addr))
	}
	versions := slices.Sorted(maps.Keys(byVersion))
	switch len(versions) {
	case 0:
		return New(IDVersion, report.Skip, "", "no node was reachable")
	case 1:
		what := versions[0]
		if names[what] == "Redis" {
			what = "Redis " + what
		}
		c := New(IDVersion, report.Pass, "", "every node runs %s", what)
		c.Observed = versions[0]
		return c
	}
	// Name the minority: the version most nodes run is the reference.
	sort.SliceStable(versions, func(i, j int) bool { return len(byVersion[versions[i]]) > len(byVersion[versions[j]]) })
	parts := make([]string, len(versions))
	for i, v := range versions {
		parts[i] = fmt.Sprintf("%s on %s", v, strings.Join(byVersion[v], ", "))
	}
	kind := "Redis"
	for _, n := range names {
		if n != "Redis" {
			kind = "server"
		}
	}
	c := New(IDVersion, report.Fail, "", "%s versions differ: %s", kind, strings.Join(parts, "; "))
	c.Observed = versions
	c.Hint = "upgrade every node to the same version before changing the cluster"
	return c
}

// DriftKeys are the directives compared between nodes when present in the
// snapshot's CONFIG GET values; the inventory's redis_config keys are
// compared as well.
var DriftKeys = []string{
	"cluster-node-timeout", "maxmemory", "maxmemory-policy", "appendonly",
	"appendfsync", "save", "cluster-require-full-coverage",
	"cluster-allow-reads-when-down", "cluster-replica-validity-factor",
	"cluster-migration-barrier", "cluster-allow-replica-migration",
	"repl-backlog-size", "repl-diskless-sync", "maxclients", "timeout",
	"tcp-keepalive", "hz", "lazyfree-lazy-eviction", "activedefrag",
}

// CheckConfigDrift reports config.drift per reachable node: each compared
// directive has the value most nodes have, and the value the inventory
// declares (cluster.node_timeout_ms and cluster.redis_config), compared
// after normalising sizes ("4gb") and yes/no.
func CheckConfigDrift(inv *inventory.Inventory, l Live) []report.Check {
	want := map[string]string{}
	if inv != nil {
		if inv.Cluster.NodeTimeoutMS > 0 {
			want["cluster-node-timeout"] = strconv.Itoa(inv.Cluster.NodeTimeoutMS)
		}
		for k, v := range inv.Cluster.RedisConfig {
			want[strings.ToLower(k)] = v
		}
	}
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	obs := l.Snap.Reachable()
	for _, k := range DriftKeys {
		for _, o := range obs {
			if _, ok := o.Config[k]; ok {
				keys[k] = true
			}
		}
	}
	// The reference value of each key is what most nodes report.
	majority := map[string]string{}
	for k := range keys {
		count := map[string]int{}
		for _, o := range obs {
			if v, ok := o.Config[k]; ok {
				count[normConfig(v)]++
			}
		}
		best, bestN := "", 0
		for _, v := range slices.Sorted(maps.Keys(count)) {
			if count[v] > bestN {
				best, bestN = v, count[v]
			}
		}
		majority[k] = best
	}
	names := slices.Sorted(maps.Keys(keys))
	var out []report.Check
	for _, o := range obs {
		var diffs []string
		compared := 0
		for _, k := range names {
			v, ok := o.Config[k]
			if !ok {
				continue
			}
			compared++
			nv := normConfig(v)
			if w, declared := want[k]; declared && nv != normConfig(w) {
				diffs = append(diffs, fmt.Sprintf("%s is %q, the inventory says %q", k, v, w))
				continue
			}
			if nv != majority[k] {
				diffs = append(diffs, fmt.Sprintf("%s is %q, other nodes have %q", k, v, majority[k]))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if _, ok := o.Config[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s (from redis_config) could not be read with CONFIG GET", k))
			}
		}
		c := New(IDConfigDrift, report.Pass, o.Addr, "%s: %d directives match the other nodes and the inventory", Label(inv, o.Addr), compared)
		if len(diffs) > 0 {
			c = New(IDConfigDrift, report.Fail, o.Addr, "%s: %s", Label(inv, o.Addr), strings.Join(diffs, "; "))
			c.Hint = "make the directives identical on every node (provision writes them from the inventory)"
		}
		c.File, c.Line = LineOf(inv, o.Addr)
		out = append(out, c)
	}
	return out
}

// normConfig normalises a directive value for comparison: sizes to bytes
// (Redis reads "1gb" as 1024³ and "1g" as 10⁹), yes/no lowercased, quotes
// and surrounding space dropped.
func normConfig(v string) string {
	v = strings.ToLower(strings.Trim(strings.TrimSpace(v), `"'`))
	if b, ok := measure.ParseSize(v); ok {
		return strconv.FormatInt(b, 10)
	}
	return v
}
