package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
)

// joinFake is one node of a test topology.
type joinFake struct {
	server string // inventory server; "" = not in the inventory
	port   int
	role   inventory.Role
	of     string // inventory replica_of "server:port"

	id       string // node id; defaults from server and port
	master   string // id of the master it replicates in the cluster; "" = master
	slots    string // "0-5460" etc.
	keys     int
	epoch    int
	group    int  // nodes of the same non-zero group know each other; 0 = alone
	down     bool // unreachable
	alone    bool // knows only itself though its group knows it (handshake)
	notInInv bool
}

func (f *joinFake) addr() string { return fmt.Sprintf("127.0.0.1:%d", f.port) }

func (f *joinFake) nodeID() string {
	if f.id != "" {
		return f.id
	}
	s := fmt.Sprintf("%s%d", f.server, f.port)
	return s + strings.Repeat("0", 40-len(s))
}

func (f *joinFake) line(myself bool) string {
	flags := "master"
	if f.master != "" {
		flags = "slave"
	}
	if myself {
		flags = "myself," + flags
	}
	m := "-"
	if f.master != "" {
		m = f.master
	}
	return fmt.Sprintf("%s %s@%d %s %s 0 0 %d connected %s", f.nodeID(), f.addr(), f.port+inventory.BusPortOffset, flags, m, f.epoch, f.slots)
}

// topology builds the inventory refs (inventory order) and the snapshot.
func joinTopology(t *testing.T, fakes []*joinFake) ([]inventory.NodeRef, *cluster.Snapshot) {
	t.Helper()
	inv := &inventory.Inventory{Source: "inv.yml"}
	line := 10
	for _, f := range fakes {
		if f.notInInv {
			continue
		}
		var srv *inventory.Server
		for i := range inv.Servers {
			if inv.Servers[i].Name == f.server {
				srv = &inv.Servers[i]
			}
		}
		if srv == nil {
			inv.Servers = append(inv.Servers, inventory.Server{Name: f.server, Address: "127.0.0.1", Line: line})
			srv = &inv.Servers[len(inv.Servers)-1]
			line++
		}
		srv.Nodes = append(srv.Nodes, inventory.Node{Port: f.port, Role: f.role, ReplicaOf: f.of, Line: line})
		line++
	}
	snap := &cluster.Snapshot{Nodes: map[string]*cluster.Observation{}}
	for _, f := range fakes {
		if f.down {
			snap.Nodes[f.addr()] = &cluster.Observation{Addr: f.addr(), Err: "dial tcp " + f.addr() + ": connect: connection refused"}
			continue
		}
		text := f.line(true) + "\n"
		for _, g := range fakes {
			if g != f && f.group != 0 && g.group == f.group && !f.alone {
				text += g.line(false) + "\n"
			}
		}
		nodes, err := cluster.ParseNodes(text)
		if err != nil {
			t.Fatalf("joinFake CLUSTER NODES: %v\n%s", err, text)
		}
		o := &cluster.Observation{Addr: f.addr(), ID: f.nodeID(), Nodes: nodes, Info: map[string]string{}}
		if f.keys > 0 {
			o.Info["db0"] = fmt.Sprintf("keys=%d,expires=0,avg_ttl=0", f.keys)
		}
		snap.Nodes[f.addr()] = o
	}
	return inv.Nodes(), snap
}

// threeByThree is a formed cluster of 3 masters + 3 cross replicas
// (server1's replica follows server3's master and so on), group 1.
func joinThreeByThree() []*joinFake {
	m := func(s string, port int, slots string) *joinFake {
		return &joinFake{server: s, port: port, role: inventory.RoleMaster, slots: slots, group: 1, epoch: port - 7000}
	}
	s1 := m("server1", 7000, "0-5460")
	s2 := m("server2", 7100, "5461-10922")
	s3 := m("server3", 7200, "10923-16383")
	r := func(s string, port int, master *joinFake) *joinFake {
		return &joinFake{server: s, port: port, role: inventory.RoleReplica, of: master.server + ":" + fmt.Sprint(master.port),
			master: master.nodeID(), group: 1}
	}
	return []*joinFake{s1, r("server1", 7001, s3), s2, r("server2", 7101, s1), s3, r("server3", 7201, s2)}
}

// newPair returns server4 and server5, empty, replicas crossed as in the seed.
func joinNewPair() []*joinFake {
	return []*joinFake{
		{server: "server4", port: 7300, role: inventory.RoleMaster},
		{server: "server4", port: 7301, role: inventory.RoleReplica, of: "server5:7400"},
		{server: "server5", port: 7400, role: inventory.RoleMaster},
		{server: "server5", port: 7401, role: inventory.RoleReplica, of: "server4:7300"},
	}
}

func joinFresh(fs []*joinFake) []*joinFake {
	for _, f := range fs {
		f.group, f.slots, f.master, f.epoch = 0, "", "", 0
	}
	return fs
}

func joinPlanOf(t *testing.T, fakes []*joinFake, opts JoinOptions) JoinPlan {
	t.Helper()
	refs, snap := joinTopology(t, fakes)
	p, err := PlanJoin(refs, snap, opts)
	if err != nil {
		t.Fatalf("PlanJoin: %v", err)
	}
	return p
}

func joinNames(ns []JoinNode) string {
	var out []string
	for _, n := range ns {
		if n.Name != "" {
			out = append(out, n.Name)
		} else {
			out = append(out, n.Addr)
		}
	}
	return strings.Join(out, " ")
}

func joinMeets(p JoinPlan) string {
	var out []string
	for _, m := range p.Meet {
		out = append(out, m.Node.Name+">"+m.Target.Name)
	}
	return strings.Join(out, " ")
}

func joinReplicates(p JoinPlan) string {
	var out []string
	for _, r := range p.Replicate {
		out = append(out, r.Node.Name+">"+r.Master.Name)
	}
	return strings.Join(out, " ")
}

func joinRefusals(p JoinPlan) string {
	var out []string
	for _, r := range p.Refusals {
		out = append(out, r.String())
	}
	return strings.Join(out, "; ")
}

func TestPlanJoinCreate(t *testing.T) {
	p := joinPlanOf(t, joinFresh(joinThreeByThree()), JoinOptions{})
	if p.Mode != JoinCreate || len(p.Refusals) > 0 {
		t.Fatalf("mode %q refusals %q, want create", p.Mode, joinRefusals(p))
	}
	var got []string
	for _, a := range p.Assign {
		got = append(got, a.Node.Name+"="+a.Ranges[0].String())
	}
	if g, w := strings.Join(got, " "), "server1:7000=0-5460 server2:7100=5461-10922 server3:7200=10923-16383"; g != w {
		t.Errorf("assign %q, want %q", g, w)
	}
	if len(p.Epochs) != 6 {
		t.Fatalf("epochs %v, want 6", p.Epochs)
	}
	epochs := map[int64]bool{}
	for _, e := range p.Epochs {
		if epochs[e.Epoch] || e.Epoch < 1 {
			t.Errorf("epoch %d repeated or < 1", e.Epoch)
		}
		epochs[e.Epoch] = true
	}
	if g, w := joinMeets(p), "server2:7100>server1:7000 server3:7200>server1:7000 server1:7001>server1:7000 server2:7101>server1:7000 server3:7201>server1:7000"; g != w {
		t.Errorf("meet %q, want %q", g, w)
	}
	if p.Meet[0].TargetBusPort != 17000 || !p.Meet[0].Master || p.Meet[2].Master {
		t.Errorf("meet details %+v", p.Meet)
	}
	if g, w := joinReplicates(p), "server1:7001>server3:7200 server2:7101>server1:7000 server3:7201>server2:7100"; g != w {
		t.Errorf("replicate %q, want %q", g, w)
	}
	for _, r := range p.Replicate {
		if r.Master.ID == "" || r.From != "" {
			t.Errorf("replicate %+v: want master id and no From", r)
		}
	}
}

func TestPlanJoinCreateMastersOnly(t *testing.T) {
	p := joinPlanOf(t, joinFresh(joinThreeByThree()), JoinOptions{MastersOnly: true})
	if p.Mode != JoinCreate || len(p.Replicate) != 0 || len(p.Meet) != 2 || len(p.Epochs) != 3 {
		t.Fatalf("plan %+v: want 3 masters only", p)
	}
	if g, w := joinNames(p.Deferred), "server1:7001 server2:7101 server3:7201"; g != w {
		t.Errorf("deferred %q, want %q", g, w)
	}
}

// An interrupted create (slots and epoch already set on server1) resumes.
func TestPlanJoinCreateResumes(t *testing.T) {
	fs := joinFresh(joinThreeByThree())
	fs[0].slots, fs[0].epoch = "0-5460", 1
	p := joinPlanOf(t, fs, JoinOptions{})
	if p.Mode != JoinCreate || len(p.Refusals) > 0 {
		t.Fatalf("mode %q refusals %q", p.Mode, joinRefusals(p))
	}
	if len(p.Assign) != 2 || p.Assign[0].Node.Name != "server2:7100" || len(p.Epochs) != 5 {
		t.Errorf("assign %+v epochs %+v: server1 should be skipped", p.Assign, p.Epochs)
	}
	fs[0].slots = "0-100"
	if p := joinPlanOf(t, fs, JoinOptions{}); !strings.Contains(joinRefusals(p), "server1:7000 (127.0.0.1:7000, inv.yml:11): owns slots 0-100") {
		t.Errorf("refusals %q, want server1 owning slots named", joinRefusals(p))
	}
}

func TestPlanJoinExtendByPair(t *testing.T) {
	fs := append(joinThreeByThree(), joinNewPair()...)
	p := joinPlanOf(t, fs, JoinOptions{})
	if p.Mode != JoinExtend || len(p.Refusals) > 0 {
		t.Fatalf("mode %q refusals %q", p.Mode, joinRefusals(p))
	}
	if g, w := joinMeets(p), "server4:7300>server1:7000 server5:7400>server1:7000 server4:7301>server1:7000 server5:7401>server1:7000"; g != w {
		t.Errorf("meet %q, want %q (masters first, to an existing master)", g, w)
	}
	if g, w := joinReplicates(p), "server4:7301>server5:7400 server5:7401>server4:7300"; g != w {
		t.Errorf("replicate %q, want %q", g, w)
	}
	if g := joinNames(p.Unchanged); g != "server1:7000 server1:7001 server2:7100 server2:7101 server3:7200 server3:7201" {
		t.Errorf("unchanged %q", g)
	}
	if len(p.Assign)+len(p.Epochs)+len(p.Forget) != 0 || p.Fingerprint == "" {
		t.Errorf("extend must not assign slots, set epochs or forget: %+v", p)
	}

	p = joinPlanOf(t, fs, JoinOptions{MastersOnly: true})
	if g := joinMeets(p); g != "server4:7300>server1:7000 server5:7400>server1:7000" {
		t.Errorf("masters-only meet %q", g)
	}
	if len(p.Replicate) != 0 || joinNames(p.Deferred) != "server4:7301 server5:7401" {
		t.Errorf("masters-only: replicate %q deferred %q", joinReplicates(p), joinNames(p.Deferred))
	}
}

func TestPlanJoinNoop(t *testing.T) {
	p := joinPlanOf(t, joinThreeByThree(), JoinOptions{Prune: true})
	if p.Mode != JoinNoop || p.Changes() || len(p.Unchanged) != 6 || len(p.Refusals) > 0 {
		t.Fatalf("plan %+v, want noop with 6 unchanged", p)
	}
}

// A resumed extend: the new replica was met but not yet attached (a master
// without slots), the new master already joined.
func TestPlanJoinExtendResumes(t *testing.T) {
	base := joinThreeByThree()
	pair := joinNewPair()
	for _, f := range pair {
		f.group = 1
	}
	pair[1].master = pair[2].nodeID() // server4's replica already follows server5
	p := joinPlanOf(t, append(base, pair...), JoinOptions{})
	if p.Mode != JoinExtend || len(p.Meet) != 0 {
		t.Fatalf("mode %q meet %q", p.Mode, joinMeets(p))
	}
	if g := joinReplicates(p); g != "server5:7401>server4:7300" || p.Replicate[0].From != "master without slots" {
		t.Errorf("replicate %q from %q", g, p.Replicate[0].From)
	}
}

func TestPlanJoinFixesReplica(t *testing.T) {
	fs := joinThreeByThree()
	fs[1].of = "server2:7100" // server1's replica should follow server2 now
	p := joinPlanOf(t, fs, JoinOptions{})
	if p.Mode != JoinExtend || joinReplicates(p) != "server1:7001>server2:7100" {
		t.Fatalf("mode %q replicate %q", p.Mode, joinReplicates(p))
	}
	if p.Replicate[0].From != "replica of server3:7200" {
		t.Errorf("from %q", p.Replicate[0].From)
	}
}

func TestPlanJoinPrune(t *testing.T) {
	fs := joinThreeByThree()
	gone := []*joinFake{
		{port: 7500, group: 1, notInInv: true, id: strings.Repeat("e", 40)},
		{port: 7501, group: 1, notInInv: true, id: strings.Repeat("f", 40), master: strings.Repeat("e", 40)},
	}
	fs = append(fs, gone...)

	p := joinPlanOf(t, fs, JoinOptions{})
	if p.Mode != JoinNoop || len(p.Extra) != 2 || len(p.Forget) != 0 {
		t.Fatalf("without prune: mode %q extra %+v forget %+v", p.Mode, p.Extra, p.Forget)
	}

	p = joinPlanOf(t, fs, JoinOptions{Prune: true})
	if p.Mode != JoinExtend || len(p.Forget) != 2 || len(p.Refusals) > 0 {
		t.Fatalf("prune: mode %q forget %+v refusals %q", p.Mode, p.Forget, joinRefusals(p))
	}
	if f := p.Forget[0]; f.Node.Addr != "127.0.0.1:7501" || f.Master || !f.Reset || len(f.Targets) != 7 {
		t.Errorf("first forget %+v: want the replica, reset, 6 members + the master", f)
	}
	if f := p.Forget[1]; f.Node.Addr != "127.0.0.1:7500" || !f.Master || len(f.Targets) != 6 {
		t.Errorf("second forget %+v: want the master, 6 targets", f)
	}
	for _, f := range p.Forget {
		for _, tg := range f.Targets {
			if tg.ID == f.Node.ID {
				t.Errorf("%s forgets itself", f.Node.Addr)
			}
		}
	}

	// A dead extra is forgotten but not reset.
	gone[1].down = true
	p = joinPlanOf(t, fs, JoinOptions{Prune: true})
	if len(p.Forget) != 2 || p.Forget[0].Reset || len(p.Forget[1].Targets) != 6 {
		t.Errorf("dead extra: %+v", p.Forget)
	}
	gone[1].down = false

	// An extra master owning slots is refused: join never moves slots.
	fs[4].slots = "10923-16000"
	gone[0].slots = "16001-16383"
	p = joinPlanOf(t, fs, JoinOptions{Prune: true})
	if !strings.Contains(joinRefusals(p), "127.0.0.1:7500 (eeeeeeee): is not in the inventory but owns 383 slots") || p.Changes() {
		t.Errorf("refusals %q changes %v", joinRefusals(p), p.Changes())
	}
}

func TestPlanJoinRefusals(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(fs []*joinFake) []*joinFake
		want   string
		noMode bool
	}{
		{
			name: "new node with keys",
			edit: func(fs []*joinFake) []*joinFake { fs[6].keys = 3; return fs },
			want: "server4:7300 (127.0.0.1:7300, inv.yml:20): holds 3 keys",
		},
		{
			name: "new node of another cluster",
			edit: func(fs []*joinFake) []*joinFake {
				fs[6].group = 2
				return append(fs, &joinFake{port: 7600, group: 2, notInInv: true, slots: "0-16383"})
			},
			want: "server4:7300 (127.0.0.1:7300, inv.yml:20): belongs to another cluster: it knows 1 nodes",
		},
		{
			name: "new node alone with slots",
			edit: func(fs []*joinFake) []*joinFake { fs[6].slots = "0-10"; return fs },
			want: "server4:7300 (127.0.0.1:7300, inv.yml:20): owns slots 0-10",
		},
		{
			name: "unreachable",
			edit: func(fs []*joinFake) []*joinFake { fs[8].down = true; return fs },
			want: "server5:7400 (127.0.0.1:7400, inv.yml:23): unreachable: dial tcp",
		},
		{
			name: "replica in inventory, master with slots in cluster",
			edit: func(fs []*joinFake) []*joinFake {
				fs[1].role, fs[1].of = inventory.RoleMaster, ""
				fs[0].role, fs[0].of = inventory.RoleReplica, "server2:7100"
				fs[3].of = "server1:7001"
				return fs
			},
			want: "server1:7000 (127.0.0.1:7000, inv.yml:11): the inventory says replica but it is a master owning 5461 slots",
		},
		{
			name: "master in inventory, replica in cluster",
			edit: func(fs []*joinFake) []*joinFake {
				fs[1].role, fs[1].of = inventory.RoleMaster, ""
				return fs
			},
			want: "server1:7001 (127.0.0.1:7001, inv.yml:12): the inventory says master but it is a replica of server3:7200",
		},
		{
			name: "replica_of not a master",
			edit: func(fs []*joinFake) []*joinFake { fs[7].of = "server9:1"; return fs },
			want: `server4:7301 (127.0.0.1:7301, inv.yml:21): replica_of "server9:1" is not a master`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := tc.edit(append(joinThreeByThree(), joinNewPair()...))
			p := joinPlanOf(t, fs, JoinOptions{Prune: true})
			if !strings.Contains(joinRefusals(p), tc.want) {
				t.Errorf("refusals %q, want %q", joinRefusals(p), tc.want)
			}
			if p.Changes() || len(p.Unchanged) > 0 {
				t.Errorf("a refused plan must carry no steps: %+v", p)
			}
			for _, r := range p.Refusals {
				if r.Hint == "" {
					t.Errorf("refusal %q has no hint", r)
				}
			}
		})
	}
}

// In create mode a node that holds keys is refused too.
func TestPlanJoinCreateRefusesKeys(t *testing.T) {
	fs := joinFresh(joinThreeByThree())
	fs[3].keys = 1
	p := joinPlanOf(t, fs, JoinOptions{})
	if !strings.Contains(joinRefusals(p), "server2:7101 (127.0.0.1:7101, inv.yml:15): holds 1 keys") || p.Changes() {
		t.Errorf("refusals %q", joinRefusals(p))
	}
}

// The cluster with more inventory nodes wins; the odd node out is refused.
func TestPlanJoinPicksMainCluster(t *testing.T) {
	fs := joinThreeByThree()
	fs[5].group, fs[5].master = 3, ""
	fs = append(fs, &joinFake{port: 7700, group: 3, notInInv: true})
	p := joinPlanOf(t, fs, JoinOptions{})
	if !strings.Contains(joinRefusals(p), "server3:7201 (127.0.0.1:7201, inv.yml:18): belongs to another cluster") || len(p.Refusals) != 1 {
		t.Errorf("refusals %q", joinRefusals(p))
	}
}

func TestPlanJoinVerify(t *testing.T) {
	a := JoinNode{Name: "a", Addr: "a:1", ID: "x"}
	b := JoinNode{Name: "b", Addr: "b:1"}
	bad := []JoinPlan{
		{Meet: []MeetStep{{Node: a, Target: a}}},
		{Meet: []MeetStep{{Node: a, Target: b}, {Node: a, Target: b}}},
		{Replicate: []ReplicateStep{{Node: a, Master: b}}, Unchanged: []JoinNode{a}},
		{Forget: []ForgetStep{{Node: a, Targets: []JoinNode{a}}}},
		{Mode: JoinCreate, Assign: []SlotAssignment{{Node: a, Ranges: []cluster.Range{{Start: 0, End: 10}}}, {Node: b, Ranges: []cluster.Range{{Start: 10, End: 20}}}}},
	}
	for i, p := range bad {
		if err := p.Verify(); err == nil {
			t.Errorf("plan %d: Verify accepted %+v", i, p)
		}
	}
}

// A master the cluster knows but that knows nobody yet (a MEET still in
// handshake when an earlier run stopped) is met again, not refused.
func TestPlanJoinRejoinsHandshake(t *testing.T) {
	fs := joinThreeByThree()
	fs[0].alone = true
	p := joinPlanOf(t, fs, JoinOptions{})
	if p.Mode != JoinExtend || len(p.Refusals) > 0 {
		t.Fatalf("mode %q refusals %q", p.Mode, joinRefusals(p))
	}
	if g := joinMeets(p); g != "server1:7000>server2:7100" {
		t.Errorf("meet %q", g)
	}
	if !p.Meet[0].Master || len(p.Replicate) != 0 || len(p.Unchanged) != 5 {
		t.Errorf("plan %+v", p)
	}
}

// A create interrupted after one MEET: server1 and server2 know each
// other, server3 is alone with exactly its share of the split. It is met,
// not refused; a lone master with other slots is refused.
func TestPlanJoinResumesPartialCreate(t *testing.T) {
	fs := joinFresh(joinThreeByThree())
	fs[0].slots, fs[0].group = "0-5460", 1
	fs[2].slots, fs[2].group = "5461-10922", 1
	fs[4].slots = "10923-16383"
	p := joinPlanOf(t, fs, JoinOptions{})
	if p.Mode != JoinExtend || len(p.Refusals) > 0 {
		t.Fatalf("mode %q refusals %q", p.Mode, joinRefusals(p))
	}
	if g := joinMeets(p); !strings.HasPrefix(g, "server3:7200>server1:7000 ") {
		t.Errorf("meet %q: want server3's master met first", g)
	}
	fs[4].slots = "10923-16000"
	if p := joinPlanOf(t, fs, JoinOptions{}); !strings.Contains(joinRefusals(p), "server3:7200 (127.0.0.1:7200, inv.yml:17): owns slots 10923-16000") {
		t.Errorf("refusals %q", joinRefusals(p))
	}
}
