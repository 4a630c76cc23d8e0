package check

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

// IDFailoverShard is failover-test's verdict on one shard.
const IDFailoverShard = "failover.shard"

// Shard is a master that owns slots, and its replicas.
type Shard struct {
	Master   cluster.Node
	Replicas []cluster.Node
}

// Shards returns the view's masters that own slots, each with the members
// that replicate it, sorted by master address.
func Shards(l Live) []Shard {
	var out []Shard
	for _, m := range l.Masters() {
		if m.Slots.Len() == 0 {
			continue
		}
		s := Shard{Master: m}
		for _, r := range l.Replicas() {
			if r.MasterID == m.ID {
				s.Replicas = append(s.Replicas, r)
			}
		}
		out = append(out, s)
	}
	return out
}

// ShardLabel names a shard for messages: its master and its slots.
func ShardLabel(inv *inventory.Inventory, s Shard) string {
	return fmt.Sprintf("shard %s, slots %s", Label(inv, s.Master.Addr), s.Master.Slots.String())
}

// SelectShards returns the shards that names select, in the order of
// shards, or every shard when names is empty. A name is a master's node
// id, its address (host:port) or its inventory name (server:port). A name
// that matches no master is an error listing the masters; the name of a
// replica is an error naming its master.
func SelectShards(inv *inventory.Inventory, shards []Shard, names []string) ([]Shard, error) {
	if len(names) == 0 {
		return shards, nil
	}
	matches := func(n cluster.Node, name string) bool {
		if n.ID == name || n.Addr == name {
			return true
		}
		if inv != nil {
			if r, ok := inv.NodeByAddr(n.Addr); ok && r.Name() == name {
				return true
			}
		}
		return false
	}
	chosen := map[string]bool{}
	for _, name := range names {
		name = strings.TrimSpace(name)
		found := false
		for _, s := range shards {
			if matches(s.Master, name) {
				chosen[s.Master.ID], found = true, true
				continue
			}
			for _, r := range s.Replicas {
				if matches(r, name) {
					return nil, fmt.Errorf("--shard %s is a replica of %s: name the master", name, Label(inv, s.Master.Addr))
				}
			}
		}
		if !found {
			masters := make([]string, len(shards))
			for i, s := range shards {
				masters[i] = Label(inv, s.Master.Addr)
			}
			return nil, fmt.Errorf("--shard %s: no master that owns slots has that id, address or name; masters: %s", name, strings.Join(masters, ", "))
		}
	}
	var out []Shard
	for _, s := range shards {
		if chosen[s.Master.ID] {
			out = append(out, s)
		}
	}
	return out, nil
}

// ReplicaState is what INFO replication said of a replica (Err when it
// could not be read).
type ReplicaState struct {
	Role       string // "slave" on a replica, as Redis says it
	LinkStatus string // master_link_status
	Offset     int64  // master_repl_offset
	Err        string
}

// ReplicaProblem says why replica n cannot take over its master now, or
// "" when it can: it must be connected on the cluster bus and not flagged
// failing, a replica whose link to its master is up, and caught up with
// the offset its master reported (read before the replica's).
func ReplicaProblem(n cluster.Node, st ReplicaState, masterOffset int64) string {
	switch {
	case n.Failing():
		return fmt.Sprintf("%s is flagged %s", n.Addr, strings.Join(n.Flags, ","))
	case n.LinkState != "connected":
		return fmt.Sprintf("%s: cluster bus link %s", n.Addr, n.LinkState)
	case st.Err != "":
		return fmt.Sprintf("%s: %s", n.Addr, st.Err)
	case st.Role != "slave":
		return fmt.Sprintf("%s reports role %s", n.Addr, st.Role)
	case st.LinkStatus != "up":
		return fmt.Sprintf("%s: master_link_status:%s", n.Addr, st.LinkStatus)
	case st.Offset < masterOffset:
		return fmt.Sprintf("%s: replication offset %d, %d bytes behind its master", n.Addr, st.Offset, masterOffset-st.Offset)
	}
	return ""
}

// Switched reports whether every view (CLUSTER NODES by node address)
// shows masterID as a master that is not failing and replicaID as its
// replica; when not, it names a node that does not agree yet.
func Switched(views map[string][]cluster.Node, masterID, replicaID string) (bool, string) {
	for _, addr := range slices.Sorted(maps.Keys(views)) {
		var m, r *cluster.Node
		for i := range views[addr] {
			switch n := &views[addr][i]; n.ID {
			case masterID:
				m = n
			case replicaID:
				r = n
			}
		}
		switch {
		case m == nil || r == nil:
			return false, addr + " does not know both nodes"
		case !m.IsMaster() || m.Failing():
			return false, fmt.Sprintf("%s sees %s as %s", addr, m.Addr, strings.Join(m.Flags, ","))
		case r.MasterID != masterID:
			return false, fmt.Sprintf("%s does not see %s as %s's replica", addr, r.Addr, m.Addr)
		}
	}
	return len(views) > 0, ""
}

// CheckFailoverShard grades one shard's failover-test: refused, roles not
// restored, acknowledged writes lost or stale, or a write outage over
// limit fail it.
func CheckFailoverShard(inv *inventory.Inventory, fs report.FailoverShard, limit time.Duration) report.Check {
	label := fmt.Sprintf("shard %s", Label(inv, fs.Master))
	worst := math.Max(fs.WriteOutageMS, fs.FailbackOutageMS)
	limitMS := float64(limit.Microseconds()) / 1000
	c := New(IDFailoverShard, report.Pass, fs.Master,
		"%s: failed over to %s in %.0f ms and back in %.0f ms; write outage %.0f ms and %.0f ms (max %s); %d writes acknowledged, %d failed, 0 lost",
		label, Label(inv, fs.Replica), fs.PromotionMS, fs.FailbackMS, fs.WriteOutageMS, fs.FailbackOutageMS, limit, fs.WritesAcked, fs.WritesFailed)
	c.Observed, c.Threshold, c.Unit = worst, limitMS, "ms"
	switch {
	case fs.Refused != "":
		c = New(IDFailoverShard, report.Fail, fs.Master, "%s refused, nothing done: no healthy replica: %s", label, fs.Refused)
		c.Hint = "let the replica finish its sync or repair it (slotshift verify shows replication.link), then run again"
	case !fs.RolesRestored:
		c.Status = report.Fail
		c.Message = fmt.Sprintf("%s: roles not restored: %s", label, fs.Problem)
		c.Hint = fmt.Sprintf("make %s master again: CLUSTER FAILOVER on it once its link to %s is up", fs.Master, fs.Replica)
	case fs.Problem != "":
		c.Status = report.Fail
		c.Message = fmt.Sprintf("%s: %s (roles restored)", label, fs.Problem)
	case fs.WritesLost > 0 || fs.WritesStale > 0:
		c.Status = report.Fail
		c.Message = fmt.Sprintf("%s: %d acknowledged writes lost, %d stale after the failover and back", label, fs.WritesLost, fs.WritesStale)
	case worst > limitMS:
		c.Status = report.Fail
		c.Message = fmt.Sprintf("%s: write outage %.0f ms over failover.max_write_outage %s (failover %.0f ms, failback %.0f ms)", label, worst, limit, fs.WriteOutageMS, fs.FailbackOutageMS)
		c.Hint = "a coordinated failover waits for the replica to catch up: check replication lag, cluster-node-timeout and the load"
	}
	c.File, c.Line = LineOf(inv, fs.Master)
	return c
}
