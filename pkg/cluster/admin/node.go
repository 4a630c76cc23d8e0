package admin

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// FunctionList returns the names of the node's Redis Functions libraries
// (FUNCTION LIST), empty when it has none.
func (p *Pool) FunctionList(ctx context.Context, addr string) ([]string, error) {
	libs, err := p.Client(addr).FunctionList(ctx, redis.FunctionListQuery{}).Result()
	if err != nil {
		return nil, wrap(addr, "FUNCTION LIST", err)
	}
	names := make([]string, len(libs))
	for i, l := range libs {
		names[i] = l.Name
	}
	return names, nil
}

// Replication is the part of INFO replication that admin work reads.
type Replication struct {
	// Role is "master" or "slave", as Redis says it.
	Role string
	// MasterLinkStatus is "up" or "down" on a replica, "" on a master.
	MasterLinkStatus string
	// MasterSyncInProgress is true while a replica's first sync runs.
	MasterSyncInProgress bool
	// MasterReplOffset is the node's replication offset.
	MasterReplOffset int64
}

// LinkUp reports whether the node is a replica whose link to its master is
// up (its first sync is done).
func (r Replication) LinkUp() bool { return r.MasterLinkStatus == "up" }

// ReplicationInfo reads INFO replication on the node at addr.
func (p *Pool) ReplicationInfo(ctx context.Context, addr string) (Replication, error) {
	text, err := p.Client(addr).Info(ctx, "replication").Result()
	if err != nil {
		return Replication{}, wrap(addr, "INFO replication", err)
	}
	return parseReplication(text), nil
}

func parseReplication(text string) Replication {
	off, _ := strconv.ParseInt(cluster.InfoField(text, "master_repl_offset"), 10, 64)
	return Replication{
		Role:                 cluster.InfoField(text, "role"),
		MasterLinkStatus:     cluster.InfoField(text, "master_link_status"),
		MasterSyncInProgress: cluster.InfoField(text, "master_sync_in_progress") == "1",
		MasterReplOffset:     off,
	}
}

// ClusterNodes returns the node at addr's view of the cluster (CLUSTER
// NODES, parsed).
func (p *Pool) ClusterNodes(ctx context.Context, addr string) ([]cluster.Node, error) {
	text, err := p.Client(addr).ClusterNodes(ctx).Result()
	if err != nil {
		return nil, wrap(addr, "CLUSTER NODES", err)
	}
	nodes, err := cluster.ParseNodes(text)
	return nodes, wrap(addr, "CLUSTER NODES", err)
}
