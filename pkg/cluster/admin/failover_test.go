package admin_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// waitRole polls INFO replication on addr until it reports role.
func waitRole(t *testing.T, p *admin.Pool, addr, role string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r, err := p.ReplicationInfo(context.Background(), addr)
		if err == nil && r.Role == role {
			return time.Since(start)
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("%s: role %q (err %v) after 15s, want %s", addr, r.Role, err, role)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFollower waits until the master at addr lists follower as its
// replica and follower's link to it is up.
func waitFollower(t *testing.T, p *admin.Pool, addr, follower string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		nodes, err := p.ClusterNodes(ctx, addr)
		self, ok := cluster.Myself(nodes)
		r, rerr := p.ReplicationInfo(ctx, follower)
		if err == nil && ok && rerr == nil && r.LinkUp() {
			for _, n := range nodes {
				if n.Addr == follower && n.MasterID == self.ID {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s is not %s's replica after 15s", follower, addr)
}

func TestFailover(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 6, sandboxtest.Options{})
	c.Form(t, 3)       // node 3 replicates node 1 (CrossInventory's layout)
	t.Cleanup(func() { // the nodes' logs say why a failover did not happen
		if t.Failed() {
			for _, n := range c.Nodes {
				b, _ := os.ReadFile(n.LogPath())
				t.Logf("%s:\n%s", n.Addr, b)
			}
		}
	})
	ctx := context.Background()
	p := newPool(t, c.Password)
	master, replica := c.Nodes[1].Addr, c.Nodes[3].Addr
	if r, err := p.ReplicationInfo(ctx, replica); err != nil || r.Role != "slave" {
		t.Fatalf("node 3: %+v %v", r, err)
	}

	// A master refuses: CLUSTER FAILOVER goes to a replica.
	err := p.Failover(ctx, master)
	var ne *admin.NodeError
	if !admin.IsFailoverRefused(err) || !errors.As(err, &ne) || ne.Addr != master || !strings.Contains(err.Error(), "CLUSTER FAILOVER on "+master) {
		t.Fatalf("CLUSTER FAILOVER on a master: %v", err)
	}

	if err := p.Failover(ctx, replica); err != nil {
		t.Fatal(err)
	}
	took := waitRole(t, p, replica, "master")
	waitRole(t, p, master, "slave")
	t.Logf("coordinated failover: replica reported master after %s", took)
	c.WaitConverged(t)

	// And back: the old master, now a replica, takes over again once its
	// link is up and the new master knows it as its replica (a master
	// ignores a manual failover request from a node it does not).
	waitFollower(t, p, replica, master)
	if err := p.Failover(ctx, master); err != nil {
		t.Fatal(err)
	}
	waitRole(t, p, master, "master")
	waitRole(t, p, replica, "slave")
	c.WaitConverged(t)
	if admin.IsFailoverRefused(nil) || admin.IsFailoverRefused(errors.New("CLUSTER FAILOVER")) {
		t.Error("IsFailoverRefused: true for an error that is no reply")
	}
}
