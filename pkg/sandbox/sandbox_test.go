package sandbox

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/redisconf"
)

const testPassword = "sandbox-test-password-42"

func needRedis(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: redis-server not in PATH (apt-get install redis-server)")
	}
}

func ping(t *testing.T, addr, password string) error {
	t.Helper()
	c := admin.NewClient(addr, admin.Options{Password: password, DialTimeout: time.Second})
	defer c.Close()
	return c.Ping(context.Background()).Err()
}

func TestStartStopRestartKill(t *testing.T) {
	needRedis(t)
	ctx := context.Background()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(ctx, NodeConfig{Dir: t.TempDir(), Port: port, Password: `pa"ss\word with space`, NodeTimeoutMS: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	if !p.Alive() || p.Pid == 0 {
		t.Fatalf("alive=%v pid=%d", p.Alive(), p.Pid)
	}
	if err := ping(t, p.Addr, `pa"ss\word with space`); err != nil {
		t.Fatalf("PING with password: %v", err)
	}
	if err := ping(t, p.Addr, "wrong-password-xx"); err == nil {
		t.Fatal("PING with a wrong password succeeded")
	}
	fi, err := os.Stat(p.ConfPath())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("redis.conf mode %v, err %v; want 0600", fi.Mode().Perm(), err)
	}
	conf, _ := os.ReadFile(p.ConfPath())
	for _, want := range []string{"cluster-enabled yes", "requirepass ", "masterauth ", `save ""`, "cluster-node-timeout 1000", "bind 127.0.0.1"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("redis.conf lacks %q", want)
		}
	}
	// The password never appears on the command line.
	cmdline, _ := os.ReadFile("/proc/" + itoa(p.Pid) + "/cmdline")
	if strings.Contains(string(cmdline), "pa\"ss") {
		t.Errorf("password in cmdline %q", cmdline)
	}

	old := p.Pid
	if err := p.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if p.Pid == old || !p.Alive() {
		t.Fatalf("restart: pid %d (was %d), alive %v", p.Pid, old, p.Alive())
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if p.Alive() || ping(t, p.Addr, `pa"ss\word with space`) == nil {
		t.Fatal("node answers after Kill")
	}
	if err := p.Restart(ctx); err != nil {
		t.Fatalf("restart after kill: %v", err)
	}
	t0 := time.Now()
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Alive() || syscall.Kill(p.Pid, 0) == nil {
		t.Fatal("process alive after Stop")
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("Stop took %s", d)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestStartMissingBinary(t *testing.T) {
	_, err := Start(context.Background(), NodeConfig{Bin: "redis-server-does-not-exist", Dir: t.TempDir(), Port: 23000})
	if err == nil || !strings.Contains(err.Error(), `redis-server-does-not-exist not found: install it with "apt-get install redis-server" or run scripts/install-deps.sh`) {
		t.Fatalf("err = %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err = Start(context.Background(), NodeConfig{Dir: t.TempDir(), Port: 23000})
	if err == nil || !strings.Contains(err.Error(), `redis-server not found: install it with "apt-get install redis-server"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestStartPortInUseQuotesLog(t *testing.T) {
	needRedis(t)
	ctx := context.Background()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(ctx, NodeConfig{Dir: t.TempDir(), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Kill() })
	_, err = Start(ctx, NodeConfig{Dir: t.TempDir(), Port: port})
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), "last log lines") {
		t.Fatalf("second Start on port %d: %v", port, err)
	}
}

func TestFreePort(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if p < freePortMin || p > freePortMax || p+inventory.BusPortOffset >= 32768 || seen[p] {
			t.Fatalf("FreePort = %d (seen %v)", p, seen[p])
		}
		if !canListen(p) || !canListen(p+inventory.BusPortOffset) {
			t.Fatalf("port %d or %d not free", p, p+10000)
		}
		seen[p] = true
	}
}

// testInventory builds three servers with a master and a replica each, on
// free loopback ports.
func testInventory(t *testing.T) *inventory.Inventory {
	t.Helper()
	inv := &inventory.Inventory{Source: "inventory.yml", Cluster: inventory.Cluster{NodeTimeoutMS: 1000}}
	names := []string{"server1", "server2", "server3"}
	for i, name := range names {
		mp, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		rp, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		inv.Servers = append(inv.Servers, inventory.Server{
			Name: name, Address: "127.0.0.1", Line: 10 + i*5,
			Nodes: []inventory.Node{
				{Port: mp, Role: inventory.RoleMaster},
				{Port: rp, Role: inventory.RoleReplica, ReplicaOf: names[(i+1)%3]},
			},
		})
	}
	return inv
}

func TestUpStatusDown(t *testing.T) {
	needRedis(t)
	ctx := context.Background()
	inv := testInventory(t)
	dir := filepath.Join(t.TempDir(), "sb")
	st, err := Up(ctx, inv, Options{Dir: dir, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Down(context.Background(), dir) })
	if len(st.Nodes) != 6 || st.AlreadyRunning {
		t.Fatalf("Up: %d nodes, already=%v", len(st.Nodes), st.AlreadyRunning)
	}
	for _, n := range st.Nodes {
		if err := ping(t, n.Addr, testPassword); err != nil {
			t.Errorf("%s %s: %v", n.Server, n.Addr, err)
		}
		if filepath.Base(n.Dir) != n.Server+"-"+itoa(n.Port) {
			t.Errorf("node dir %s", n.Dir)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state.json")); err != nil {
		t.Fatal(err)
	}

	// A second Up starts nothing.
	again, err := Up(ctx, inv, Options{Dir: dir, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if !again.AlreadyRunning {
		t.Error("second Up did not report the sandbox as already running")
	}
	for i := range st.Nodes {
		if again.Nodes[i].Pid != st.Nodes[i].Pid {
			t.Errorf("second Up changed pid of %s", st.Nodes[i].Addr)
		}
	}

	// Make server1's replica a replica so Status shows the live role.
	m := admin.NewClient(st.Nodes[0].Addr, admin.Options{Password: testPassword})
	defer m.Close()
	r := admin.NewClient(st.Nodes[1].Addr, admin.Options{Password: testPassword})
	defer r.Close()
	if err := m.ClusterMeet(ctx, "127.0.0.1", itoa(st.Nodes[1].Port)).Err(); err != nil {
		t.Fatal(err)
	}
	id, err := m.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ClusterAddSlotsRange(ctx, 0, 99).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := r.ClusterReplicate(ctx, id).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicate: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	sts, err := Status(ctx, dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 6 {
		t.Fatalf("status: %d nodes", len(sts))
	}
	for i, s := range sts {
		if !s.Alive || s.Err != "" {
			t.Errorf("status %s: alive=%v err=%q", s.Addr, s.Alive, s.Err)
		}
		wantRole, wantKnown, wantSlots := "master", 1, 0
		switch i {
		case 0:
			wantKnown, wantSlots = 2, 100
		case 1:
			wantRole, wantKnown = "replica", 2
		}
		if s.Role != wantRole || s.KnownNodes != wantKnown || s.Slots != wantSlots {
			t.Errorf("status %s: role %q known %d slots %d, want %q %d %d", s.Addr, s.Role, s.KnownNodes, s.Slots, wantRole, wantKnown, wantSlots)
		}
		if s.DeclaredRole != st.Nodes[i].Role {
			t.Errorf("status %s declared %q", s.Addr, s.DeclaredRole)
		}
	}
	if sts[2].ClusterState != "fail" {
		t.Errorf("slotless master cluster_state %q, want fail", sts[2].ClusterState)
	}

	t0 := time.Now()
	if err := Down(ctx, dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("down 6 nodes: %s", time.Since(t0))
	for _, n := range st.Nodes {
		if pidRunning(n.Pid) {
			t.Errorf("pid %d (%s) still running after Down", n.Pid, n.Addr)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state dir still there: %v", err)
	}
	if err := Down(ctx, dir); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if _, err := Status(ctx, dir, testPassword); err == nil || !strings.Contains(err.Error(), "no sandbox") {
		t.Errorf("Status after Down: %v", err)
	}
}

func TestUpRejectsNonLoopback(t *testing.T) {
	inv := testInventory(t)
	inv.Servers[1].Address = "10.0.0.7"
	dir := t.TempDir()
	_, err := Up(context.Background(), inv, Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "server server2 (inventory.yml:15)") || !strings.Contains(err.Error(), "10.0.0.7") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state.json")); !os.IsNotExist(err) {
		t.Errorf("state written for a rejected inventory")
	}
}

func TestUpFailureStopsStarted(t *testing.T) {
	needRedis(t)
	inv := testInventory(t)
	// Two servers claim the same port: the second node cannot bind.
	inv.Servers[2].Nodes[0].Port = inv.Servers[0].Nodes[0].Port
	dir := filepath.Join(t.TempDir(), "sb")
	t.Cleanup(func() { _ = Down(context.Background(), dir) })
	_, err := Up(context.Background(), inv, Options{Dir: dir})
	if err == nil {
		t.Fatal("Up with a duplicate port succeeded")
	}
	if !strings.Contains(err.Error(), "node "+itoa(inv.Servers[0].Nodes[0].Port)) {
		t.Errorf("error does not name the node: %v", err)
	}
	// Every port of the inventory must be free again.
	time.Sleep(50 * time.Millisecond)
	for _, s := range inv.Servers {
		for _, n := range s.Nodes {
			if !canListen(n.Port) {
				t.Errorf("port %d still taken after a failed Up: %v", n.Port, err)
			}
		}
	}
}

func TestPidIsNodeRejectsOthers(t *testing.T) {
	if pidIsNode(os.Getpid(), 7000) {
		t.Error("the test binary was taken for a redis-server")
	}
	if pidIsNode(0, 7000) || pidIsNode(1<<22+12345, 7000) {
		t.Error("bogus pid taken for a redis-server")
	}
}

func TestQuote(t *testing.T) {
	if got := redisconf.Quote("a\"b\\c\n"); got != `"a\"b\\c\x0a"` {
		t.Errorf("quote = %s", got)
	}
}
