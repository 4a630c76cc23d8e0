package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The nodes_*.txt fixtures were captured from a real 3+3 redis-server 7.0
// cluster on 127.0.0.1 by testdata/capture.sh. Masters announce a hostname
// (host0.example...), so their lines use the "ip:port@bus,hostname" form.

func readNodes(t *testing.T, name string) []Node {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := ParseNodes(string(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return nodes
}

func byAddr(t *testing.T, nodes []Node, addr string) Node {
	t.Helper()
	for _, n := range nodes {
		if n.Addr == addr {
			return n
		}
	}
	t.Fatalf("no node with address %s", addr)
	return Node{}
}

func TestParseNodesCaptured3x3(t *testing.T) {
	nodes := readNodes(t, "nodes_3x3.txt")
	if len(nodes) != 6 {
		t.Fatalf("got %d nodes, want 6", len(nodes))
	}
	masters := []struct {
		addr     string
		hostname string
		slots    string
		epoch    int64
	}{
		{"127.0.0.1:31001", "host0.example", "0-5460", 1},
		{"127.0.0.1:31002", "host1.example", "5461-10922", 2},
		{"127.0.0.1:31003", "host2.example", "10923-16383", 3},
	}
	ids := map[string]bool{}
	var all SlotSet
	for _, m := range masters {
		n := byAddr(t, nodes, m.addr)
		if !n.IsMaster() || n.IsReplica() || n.MasterID != "" {
			t.Errorf("%s: flags %v master_id %q, want a master", m.addr, n.Flags, n.MasterID)
		}
		if n.Hostname != m.hostname {
			t.Errorf("%s: hostname %q, want %q", m.addr, n.Hostname, m.hostname)
		}
		if got := n.Slots.String(); got != m.slots {
			t.Errorf("%s: slots %q, want %q", m.addr, got, m.slots)
		}
		if n.ConfigEpoch != m.epoch {
			t.Errorf("%s: config epoch %d, want %d", m.addr, n.ConfigEpoch, m.epoch)
		}
		if n.BusPort != 10000+atoiPort(t, m.addr) {
			t.Errorf("%s: bus port %d", m.addr, n.BusPort)
		}
		if n.LinkState != "connected" || n.Failing() || n.Open() {
			t.Errorf("%s: link %q failing %v open %v", m.addr, n.LinkState, n.Failing(), n.Open())
		}
		if len(n.ID) != 40 {
			t.Errorf("%s: id %q", m.addr, n.ID)
		}
		ids[n.ID] = true
		all.Union(&n.Slots)
	}
	if all.Len() != NumSlots {
		t.Errorf("masters cover %d slots, want %d", all.Len(), NumSlots)
	}
	for _, addr := range []string{"127.0.0.1:31004", "127.0.0.1:31005", "127.0.0.1:31006"} {
		n := byAddr(t, nodes, addr)
		if !n.IsReplica() || n.IsMaster() {
			t.Errorf("%s: flags %v, want a replica", addr, n.Flags)
		}
		if !ids[n.MasterID] {
			t.Errorf("%s: master id %q is not one of the masters", addr, n.MasterID)
		}
		if n.Hostname != "" || n.Slots.Len() != 0 {
			t.Errorf("%s: hostname %q slots %q", addr, n.Hostname, n.Slots.String())
		}
	}
	me, ok := Myself(nodes)
	if !ok || me.Addr != "127.0.0.1:31001" || !me.Myself() {
		t.Errorf("Myself = %v %v, want 127.0.0.1:31001", me.Addr, ok)
	}
}

func atoiPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, _ := strings.Cut(addr, ":")
	v, err := parseDigits(p)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseNodesCapturedStates(t *testing.T) {
	t.Run("migrating", func(t *testing.T) {
		nodes := readNodes(t, "nodes_migrating.txt")
		src, dst := byAddr(t, nodes, "127.0.0.1:31001"), byAddr(t, nodes, "127.0.0.1:31002")
		if got := src.Migrating[100]; got != dst.ID {
			t.Errorf("Migrating[100] = %q, want %q", got, dst.ID)
		}
		if !src.Open() || len(src.Importing) != 0 {
			t.Errorf("Open() = %v, Importing = %v", src.Open(), src.Importing)
		}
		// The marker is not a slot range: ownership is unchanged.
		if got := src.Slots.String(); got != "0-5460" {
			t.Errorf("slots %q, want 0-5460", got)
		}
	})
	t.Run("importing", func(t *testing.T) {
		nodes := readNodes(t, "nodes_importing.txt")
		src, dst := byAddr(t, nodes, "127.0.0.1:31001"), byAddr(t, nodes, "127.0.0.1:31002")
		if got := dst.Importing[100]; got != src.ID {
			t.Errorf("Importing[100] = %q, want %q", got, src.ID)
		}
		if !dst.Open() || !dst.Myself() || dst.Slots.Has(100) {
			t.Errorf("Open %v Myself %v Has(100) %v", dst.Open(), dst.Myself(), dst.Slots.Has(100))
		}
	})
	t.Run("handshake", func(t *testing.T) {
		nodes := readNodes(t, "nodes_handshake.txt")
		n := byAddr(t, nodes, "127.0.0.1:31007")
		if !n.HasFlag("handshake") || n.LinkState != "disconnected" || n.IsMaster() || n.IsReplica() {
			t.Errorf("handshake node: flags %v link %q", n.Flags, n.LinkState)
		}
	})
	t.Run("noaddr", func(t *testing.T) {
		nodes := readNodes(t, "nodes_noaddr.txt")
		var found bool
		for _, n := range nodes {
			if n.HasFlag("noaddr") {
				found = true
				if n.Addr != "" || n.BusPort != 0 || !n.IsReplica() {
					t.Errorf("noaddr node: addr %q bus %d flags %v", n.Addr, n.BusPort, n.Flags)
				}
			}
		}
		if !found {
			t.Fatal("no noaddr node parsed")
		}
	})
	for _, tt := range []struct{ file, flag string }{
		{"nodes_pfail.txt", "fail?"},
		{"nodes_fail.txt", "fail"},
	} {
		t.Run(tt.flag, func(t *testing.T) {
			nodes := readNodes(t, tt.file)
			n := byAddr(t, nodes, "127.0.0.1:31005")
			if !n.HasFlag(tt.flag) || !n.Failing() || n.LinkState != "disconnected" {
				t.Errorf("flags %v link %q, want %s", n.Flags, n.LinkState, tt.flag)
			}
			if n.PingSent == 0 {
				t.Error("a failing node has an outstanding ping")
			}
			healthy := byAddr(t, nodes, "127.0.0.1:31002")
			if healthy.Failing() {
				t.Errorf("healthy node flagged %v", healthy.Flags)
			}
		})
	}
}

// Hand-written lines for formats this machine's Redis does not print.
func TestParseNodesLine(t *testing.T) {
	const id = "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca"
	tests := []struct {
		name     string
		line     string
		addr     string
		bus      int
		hostname string
		slots    string
		wantErr  string
	}{
		{name: "pre-4.0 without bus port", line: id + " 10.0.0.1:7000 master - 0 0 1 connected 0-10",
			addr: "10.0.0.1:7000", slots: "0-10"},
		{name: "7.2 aux fields", line: id + " 10.0.0.1:7000@17000,db1,tls-port=0,shard-id=abc master - 0 0 1 connected 5 7-9",
			addr: "10.0.0.1:7000", bus: 17000, hostname: "db1", slots: "5 7-9"},
		{name: "7.2 aux fields no hostname", line: id + " 10.0.0.1:7000@17000,,shard-id=abc master - 0 0 1 connected",
			addr: "10.0.0.1:7000", bus: 17000},
		{name: "ipv6", line: id + " ::1:7000@17000 master - 0 0 1 connected",
			addr: "[::1]:7000", bus: 17000},
		{name: "tabs and CR", line: id + "\t10.0.0.1:7000@17000 master\t- 0 0 1 connected 1\r",
			addr: "10.0.0.1:7000", bus: 17000, slots: "1"},
		{name: "short", line: id + " 10.0.0.1:7000@17000 master - 0 0 1", wantErr: "want at least 8 fields"},
		{name: "bad id", line: "abc 10.0.0.1:7000@17000 master - 0 0 1 connected", wantErr: "not 40 characters"},
		{name: "no port", line: id + " 10.0.0.1@17000 master - 0 0 1 connected", wantErr: "missing port"},
		{name: "bad bus", line: id + " 10.0.0.1:7000@x master - 0 0 1 connected", wantErr: "bus port"},
		{name: "port range", line: id + " 10.0.0.1:70000@17000 master - 0 0 1 connected", wantErr: "out of range"},
		{name: "bad epoch", line: id + " 10.0.0.1:7000@17000 master - 0 0 x connected", wantErr: "config-epoch"},
		{name: "bad ping", line: id + " 10.0.0.1:7000@17000 master - x 0 1 connected", wantErr: "ping-sent"},
		{name: "bad slot", line: id + " 10.0.0.1:7000@17000 master - 0 0 1 connected 16384", wantErr: "out of bounds"},
		{name: "bad open slot", line: id + " 10.0.0.1:7000@17000 master - 0 0 1 connected [1-x-y]", wantErr: "want [slot->-id]"},
		{name: "unterminated open slot", line: id + " 10.0.0.1:7000@17000 master - 0 0 1 connected [1->-abc", wantErr: "missing ']'"},
		{name: "open slot range", line: id + " 10.0.0.1:7000@17000 master - 0 0 1 connected [99999->-abc]", wantErr: "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes, err := ParseNodes("\n" + tt.line + "\n")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "line 2") {
					t.Errorf("error %q does not name line 2", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) != 1 {
				t.Fatalf("got %d nodes", len(nodes))
			}
			n := nodes[0]
			if n.Addr != tt.addr || n.BusPort != tt.bus || n.Hostname != tt.hostname || n.Slots.String() != tt.slots {
				t.Errorf("got addr %q bus %d hostname %q slots %q; want %q %d %q %q",
					n.Addr, n.BusPort, n.Hostname, n.Slots.String(), tt.addr, tt.bus, tt.hostname, tt.slots)
			}
		})
	}
}

func TestParseNodesEmpty(t *testing.T) {
	nodes, err := ParseNodes("\n  \n")
	if err != nil || len(nodes) != 0 {
		t.Fatalf("ParseNodes(blank) = %v, %v", nodes, err)
	}
}

func FuzzParseNodes(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "nodes_*.txt"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca ::1:7000@17000,h,shard-id=x master - 0 0 1 connected 0-5 [7->-x] [8-<-y]")
	f.Add("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca :0@0 slave,noaddr - 0 0 1 disconnected")
	f.Fuzz(func(t *testing.T, text string) {
		nodes, err := ParseNodes(text)
		if err != nil {
			if nodes != nil {
				t.Fatalf("nodes %v returned with error %v", nodes, err)
			}
			return
		}
		for _, n := range nodes {
			if len(n.ID) != 40 {
				t.Fatalf("accepted id %q", n.ID)
			}
			if n.Slots.Len() > NumSlots {
				t.Fatalf("slot count %d", n.Slots.Len())
			}
			for slot := range n.Migrating {
				if slot < 0 || slot >= NumSlots {
					t.Fatalf("migrating slot %d", slot)
				}
			}
			for slot := range n.Importing {
				if slot < 0 || slot >= NumSlots {
					t.Fatalf("importing slot %d", slot)
				}
			}
		}
		// A parsed view must also be safe to sign.
		_ = Fingerprint(nodes)
	})
}
