package check

import (
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/check/checktest"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/report"
)

func TestShardsAndSelect(t *testing.T) {
	inv := fakeInv(t, "")
	l := NewLive(checktest.NewFake(t, inv).Snap(t))
	shards := Shards(l)
	if len(shards) != 3 {
		t.Fatalf("%d shards, want 3", len(shards))
	}
	for _, s := range shards {
		if len(s.Replicas) != 1 || s.Replicas[0].MasterID != s.Master.ID || s.Master.Slots.Len() == 0 {
			t.Errorf("shard %s: replicas %+v", s.Master.Addr, s.Replicas)
		}
	}
	m := shards[1].Master
	for _, name := range []string{m.ID, m.Addr, "server2:7002"} {
		got, err := SelectShards(inv, shards, []string{name})
		if err != nil || len(got) != 1 || got[0].Master.ID != m.ID {
			t.Errorf("--shard %s: %v, %v", name, got, err)
		}
	}
	if got, err := SelectShards(inv, shards, nil); err != nil || len(got) != 3 {
		t.Errorf("no --shard: %d shards, %v", len(got), err)
	}
	// Order follows the shards, duplicates collapse.
	got, err := SelectShards(inv, shards, []string{shards[2].Master.Addr, shards[0].Master.ID, shards[2].Master.ID})
	if err != nil || len(got) != 2 || got[0].Master.ID != shards[0].Master.ID {
		t.Errorf("two shards: %v, %v", got, err)
	}
	for name, want := range map[string]string{
		"127.0.0.1:7003": "is a replica of 127.0.0.1:7004 (server3:7004): name the master",
		"server9:7000":   "no master that owns slots has that id, address or name; masters: 127.0.0.1:7000 (server1:7000)",
	} {
		if _, err := SelectShards(inv, shards, []string{name}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--shard %s: %v, want %q", name, err, want)
		}
	}
}

func TestReplicaProblem(t *testing.T) {
	ok := cluster.Node{Addr: "10.0.0.1:7001", Flags: []string{"slave"}, LinkState: "connected"}
	up := ReplicaState{Role: "slave", LinkStatus: "up", Offset: 500}
	failing := ok
	failing.Flags = []string{"slave", "fail?"}
	gone := ok
	gone.LinkState = "disconnected"
	for _, tc := range []struct {
		name string
		n    cluster.Node
		st   ReplicaState
		want string
	}{
		{"healthy", ok, up, ""},
		{"ahead of the master's earlier offset", ok, ReplicaState{Role: "slave", LinkStatus: "up", Offset: 600}, ""},
		{"failing", failing, up, "flagged slave,fail?"},
		{"bus link down", gone, up, "cluster bus link disconnected"},
		{"unreachable", ok, ReplicaState{Err: "dial tcp: refused"}, "10.0.0.1:7001: dial tcp: refused"},
		{"a master", ok, ReplicaState{Role: "master"}, "reports role master"},
		{"link down", ok, ReplicaState{Role: "slave", LinkStatus: "down", Offset: 500}, "master_link_status:down"},
		{"behind", ok, ReplicaState{Role: "slave", LinkStatus: "up", Offset: 400}, "offset 400, 100 bytes behind"},
	} {
		got := ReplicaProblem(tc.n, tc.st, 500)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestSwitched(t *testing.T) {
	inv := fakeInv(t, "")
	f := checktest.NewFake(t, inv)
	mi, ri := f.Idx("127.0.0.1:7000"), f.Idx("127.0.0.1:7005")
	views := func() map[string][]cluster.Node {
		out := map[string][]cluster.Node{}
		for addr, o := range f.Snap(t).Nodes {
			out[addr] = o.Nodes
		}
		return out
	}
	master, replica := f.Nodes[mi].ID, f.Nodes[ri].ID
	if ok, why := Switched(views(), master, replica); !ok || why != "" {
		t.Fatalf("before: %v %q", ok, why)
	}
	if ok, why := Switched(views(), replica, master); ok || !strings.Contains(why, "sees 127.0.0.1:7005 as slave") {
		t.Errorf("reversed roles: %v %q", ok, why)
	}
	// After a failover: the replica is master, the old master its replica.
	f.Nodes[ri].Flags, f.Nodes[ri].Master, f.Nodes[ri].Slots = "master", "-", f.Nodes[mi].Slots
	f.Nodes[mi].Flags, f.Nodes[mi].Master, f.Nodes[mi].Slots = "slave", replica, ""
	if ok, why := Switched(views(), replica, master); !ok {
		t.Errorf("after: %q", why)
	}
	f.Nodes[ri].Flags = "master,fail?"
	if ok, why := Switched(views(), replica, master); ok || !strings.Contains(why, "master,fail?") {
		t.Errorf("failing new master: %v %q", ok, why)
	}
	if ok, _ := Switched(nil, replica, master); ok {
		t.Error("no views agree")
	}
}

func TestCheckFailoverShard(t *testing.T) {
	inv := fakeInv(t, "")
	good := report.FailoverShard{Master: "127.0.0.1:7000", Replica: "127.0.0.1:7005", WriteOutageMS: 120, FailbackOutageMS: 90,
		PromotionMS: 100, FailbackMS: 80, WritesAcked: 900, RolesRestored: true}
	for _, tc := range []struct {
		name string
		edit func(*report.FailoverShard)
		st   report.Status
		want string
	}{
		{"pass", func(*report.FailoverShard) {}, report.Pass, "write outage 120 ms and 90 ms (max 500ms)"},
		{"refused", func(s *report.FailoverShard) { s.Refused = "127.0.0.1:7005: master_link_status:down" },
			report.Fail, "shard 127.0.0.1:7000 (server1:7000) refused, nothing done: no healthy replica: 127.0.0.1:7005: master_link_status:down"},
		{"not restored", func(s *report.FailoverShard) { s.RolesRestored, s.Problem = false, "timed out" }, report.Fail, "roles not restored: timed out"},
		{"lost", func(s *report.FailoverShard) { s.WritesLost = 2 }, report.Fail, "2 acknowledged writes lost"},
		{"outage", func(s *report.FailoverShard) { s.FailbackOutageMS = 700 }, report.Fail, "write outage 700 ms over failover.max_write_outage 500ms"},
		{"problem", func(s *report.FailoverShard) { s.Problem = "promotion timed out" }, report.Fail, "promotion timed out (roles restored)"},
	} {
		fs := good
		tc.edit(&fs)
		c := CheckFailoverShard(inv, fs, 500*time.Millisecond)
		if c.ID != IDFailoverShard || c.Status != tc.st || !strings.Contains(c.Message, tc.want) || c.Node != fs.Master || c.Line == 0 {
			t.Errorf("%s: %+v, want %s containing %q", tc.name, c, tc.st, tc.want)
		}
	}
}
