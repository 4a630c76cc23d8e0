package cluster

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testNodes(t *testing.T) []Node {
	t.Helper()
	nodes, err := ParseNodes(`
aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 10.0.0.2:7000@17000 master - 0 0 2 connected 5461-10922 [5461->-cccccccccccccccccccccccccccccccccccccccc]
cccccccccccccccccccccccccccccccccccccccc 10.0.0.3:7000@17000 master - 0 0 3 connected 10923-16382 16383
dddddddddddddddddddddddddddddddddddddddd 10.0.0.4:7000@17000 slave aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 0 0 1 connected
`)
	if err != nil {
		t.Fatal(err)
	}
	return nodes
}

func TestSignature(t *testing.T) {
	nodes := testNodes(t)
	want := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:0-5460|" +
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb:5461-10922|" +
		"cccccccccccccccccccccccccccccccccccccccc:10923-16383"
	if got := Signature(nodes); got != want {
		t.Errorf("Signature =\n%s\nwant\n%s", got, want)
	}
	if got := Signature(nil); got != "" {
		t.Errorf("Signature(nil) = %q", got)
	}
	// A fragmented owner lists every range.
	nodes[0].Slots.Remove(100)
	if got := Signature(nodes); !strings.HasPrefix(got, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:0-99,101-5460|") {
		t.Errorf("fragmented signature %q", got)
	}
}

func TestFingerprint(t *testing.T) {
	nodes := testNodes(t)
	fp := Fingerprint(nodes)
	// Plans on disk carry this value: changing the function makes them stale.
	const golden = "910bcf109ddb9f0d"
	if fp != golden {
		t.Errorf("Fingerprint = %q, want %q (did the signature format change?)", fp, golden)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := append([]Node(nil), nodes...)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if got := Fingerprint(shuffled); got != fp {
			t.Fatalf("shuffle %d: fingerprint %q, want %q", i, got, fp)
		}
	}
	// Flags, epochs, links and open-slot markers do not change the slot map.
	other := testNodes(t)
	other[1].Migrating = nil
	other[2].Flags = []string{"master", "fail?"}
	other[2].ConfigEpoch = 99
	if got := Fingerprint(other); got != fp {
		t.Errorf("non-slot changes moved the fingerprint: %q", got)
	}
	// Moving one slot does.
	moved := testNodes(t)
	moved[0].Slots.Remove(0)
	moved[1].Slots.Add(0)
	if got := Fingerprint(moved); got == fp {
		t.Error("moving a slot kept the fingerprint")
	}
	if len(fp) != 16 {
		t.Errorf("fingerprint length %d, want 16 hex digits", len(fp))
	}
}

func capturedViews(t *testing.T) map[string]*Observation {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "nodes_3x3_view_*.txt"))
	if err != nil || len(files) != 6 {
		t.Fatalf("want 6 captured views, got %d (%v)", len(files), err)
	}
	out := map[string]*Observation{}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := ParseNodes(string(b))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		me, _ := Myself(nodes)
		out[me.Addr] = &Observation{Addr: me.Addr, ID: me.ID, Nodes: nodes}
	}
	return out
}

func TestSnapshotAgreed(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(map[string]*Observation)
		want   bool
	}{
		{"six captured views agree", func(map[string]*Observation) {}, true},
		{"an unreachable node is ignored", func(m map[string]*Observation) {
			m["127.0.0.1:31004"] = &Observation{Addr: "127.0.0.1:31004", Err: "connection refused"}
		}, true},
		{"a handshake entry is ignored", func(m map[string]*Observation) {
			o := m["127.0.0.1:31002"]
			o.Nodes = append(o.Nodes, Node{ID: strings.Repeat("f", 40), Flags: []string{"handshake"}})
		}, true},
		{"one node sees a slot elsewhere", func(m map[string]*Observation) {
			o := m["127.0.0.1:31003"]
			o.Nodes[0].Slots.Remove(o.Nodes[0].Slots.Slots()[0])
		}, false},
		{"one node misses a node", func(m map[string]*Observation) {
			o := m["127.0.0.1:31006"]
			for i, n := range o.Nodes {
				if n.IsReplica() && !n.Myself() {
					o.Nodes = append(o.Nodes[:i], o.Nodes[i+1:]...)
					break
				}
			}
		}, false},
		{"a fresh node knows no slots", func(m map[string]*Observation) {
			m["127.0.0.1:31009"] = &Observation{Addr: "127.0.0.1:31009", Nodes: []Node{{
				ID: strings.Repeat("e", 40), Flags: []string{"myself", "master"}}}}
		}, false},
		{"nothing reachable", func(m map[string]*Observation) {
			for _, o := range m {
				o.Err = "timeout"
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			views := capturedViews(t)
			tt.mutate(views)
			s := &Snapshot{Nodes: views}
			if got := s.Agreed(); got != tt.want {
				t.Errorf("Agreed() = %v, want %v; signatures %v", got, tt.want, s.Signatures())
			}
		})
	}
}

func TestSnapshotViewOwners(t *testing.T) {
	views := capturedViews(t)
	s := &Snapshot{Nodes: views}
	if got := s.Addrs(); len(got) != 6 || got[0] != "127.0.0.1:31001" || got[5] != "127.0.0.1:31006" {
		t.Errorf("Addrs() = %v", got)
	}
	view := s.View()
	if me, _ := Myself(view); me.Addr != "127.0.0.1:31001" {
		t.Errorf("View() is %s's, want the first master 127.0.0.1:31001", me.Addr)
	}
	owners := s.Owners()
	ids := map[string]string{}
	for _, n := range view {
		ids[n.Addr] = n.ID
	}
	for _, tt := range []struct {
		slot int
		addr string
	}{{0, "127.0.0.1:31001"}, {5460, "127.0.0.1:31001"}, {5461, "127.0.0.1:31002"}, {10922, "127.0.0.1:31002"}, {10923, "127.0.0.1:31003"}, {16383, "127.0.0.1:31003"}} {
		if owners[tt.slot] != ids[tt.addr] {
			t.Errorf("owner of slot %d = %q, want %s (%q)", tt.slot, owners[tt.slot], tt.addr, ids[tt.addr])
		}
	}

	// With the masters unreachable, the view falls back to a replica's.
	for _, a := range []string{"127.0.0.1:31001", "127.0.0.1:31002", "127.0.0.1:31003"} {
		views[a].Err = "down"
	}
	if me, _ := Myself(s.View()); me.Addr != "127.0.0.1:31004" || !me.IsReplica() {
		t.Errorf("fallback View() is %s's, want replica 127.0.0.1:31004", me.Addr)
	}
	// An unowned slot maps to "".
	s2 := &Snapshot{Nodes: map[string]*Observation{"x:1": {Addr: "x:1", Nodes: testNodes(t)}}}
	s2.Nodes["x:1"].Nodes[2].Slots.Remove(16383)
	if got := s2.Owners()[16383]; got != "" {
		t.Errorf("unowned slot owner %q", got)
	}
	if got := len(s.Reachable()); got != 3 {
		t.Errorf("Reachable() = %d, want 3", got)
	}
}
