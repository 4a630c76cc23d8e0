package admin

import (
	"context"
	"strings"
)

// Failover asks the replica at addr to take its master's place with
// CLUSTER FAILOVER in its default, coordinated mode: the master stops
// accepting writes, the replica catches up with its replication stream,
// wins an election and announces itself, and the old master becomes its
// replica. Redis replies at once; the switch happens afterwards (poll
// ReplicationInfo). See IsFailoverRefused for a node that is a master.
func (p *Pool) Failover(ctx context.Context, addr string) error {
	return wrap(addr, "CLUSTER FAILOVER", p.Client(addr).ClusterFailover(ctx).Err())
}

// IsFailoverRefused reports whether err is Redis refusing CLUSTER FAILOVER
// because the node is a master, or a replica whose master is failing or
// unknown (use FORCE or TAKEOVER for those; slotshift does not).
func IsFailoverRefused(err error) bool {
	t, ok := replyText(err)
	return ok && (strings.Contains(t, "CLUSTER FAILOVER") || strings.Contains(t, "master is unknown"))
}
