package admin

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// reply is a Redis error reply as go-redis returns it.
type reply string

func (r reply) Error() string { return string(r) }
func (reply) RedisError()     {}

func TestPredicates(t *testing.T) {
	w := func(e error) error { return wrap("127.0.0.1:7000", "OP", e) }
	cases := []struct {
		name string
		err  error
		pred func(error) bool
		want bool
	}{
		{"wrongpass", w(reply("WRONGPASS invalid username-password pair or user is disabled.")), IsAuthError, true},
		{"noauth", w(reply("NOAUTH Authentication required.")), IsAuthError, true},
		{"refused is not auth", w(syscall.ECONNREFUSED), IsAuthError, false},
		{"refused", w(fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED)), IsUnreachable, true},
		{"reply is reachable", w(reply("ERR unknown command")), IsUnreachable, false},
		{"busykey", w(reply("BUSYKEY Target key name already exists.")), IsBusyKey, true},
		{"busykey via migrate", w(reply("ERR Target instance replied with error: BUSYKEY Target key name already exists.")), IsBusyKey, true},
		{"busykey text outside a reply", errors.New("BUSYKEY"), IsBusyKey, false},
		{"only masters", w(reply("ERR Please use SETSLOT only with masters.")), IsOnlyMasters, true},
		{"only primaries (Valkey)", w(reply("ERR Please use SETSLOT only with primaries.")), IsOnlyMasters, true},
		{"still holds keys", w(reply("ERR Can't assign hashslot 5 to a different node while I still hold keys for this hash slot.")), IsStillHoldsKeys, true},
		{"busy key is not holds keys", w(reply("BUSYKEY Target key name already exists.")), IsStillHoldsKeys, false},
		{"unknown node", w(reply("ERR Unknown node 0123")), IsUnknownNode, true},
		{"forget unknown", w(reply("ERR Unknown node ffff")), IsUnknownNode, true},
		{"cluster disabled", w(reply("ERR This instance has cluster support disabled")), IsClusterDisabled, true},
		{"nil", nil, IsAuthError, false},
	}
	for _, c := range cases {
		if got := c.pred(c.err); got != c.want {
			t.Errorf("%s: %v", c.name, got)
		}
	}
	if s, a, ok := IsMoved(w(reply("MOVED 3999 127.0.0.1:6381"))); !ok || s != 3999 || a != "127.0.0.1:6381" {
		t.Errorf("IsMoved = %d %s %v", s, a, ok)
	}
	if _, _, ok := IsMoved(w(reply("ASK 3999 127.0.0.1:6381"))); ok {
		t.Error("ASK taken for MOVED")
	}
	if s, a, ok := IsAsk(w(reply("ASK 12 127.0.0.1:7001"))); !ok || s != 12 || a != "127.0.0.1:7001" {
		t.Errorf("IsAsk = %d %s %v", s, a, ok)
	}
	if got := w(reply("ERR x")).Error(); got != "OP on 127.0.0.1:7000: ERR x" {
		t.Errorf("NodeError text %q", got)
	}
}

const (
	idA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	idB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	idC = "cccccccccccccccccccccccccccccccccccccccc"
)

func obs(t *testing.T, addr, state, nodes string) *cluster.Observation {
	t.Helper()
	parsed, err := cluster.ParseNodes(nodes)
	if err != nil {
		t.Fatal(err)
	}
	o := &cluster.Observation{Addr: addr, Nodes: parsed, ClusterInfo: map[string]string{"cluster_state": state}}
	if me, ok := cluster.Myself(parsed); ok {
		o.ID = me.ID
	}
	return o
}

func TestDivergence(t *testing.T) {
	lineA := func(self bool) string {
		f := "master"
		if self {
			f = "myself,master"
		}
		return idA + " 127.0.0.1:7000@17000 " + f + " - 0 0 1 connected 0-8191\n"
	}
	lineB := func(self bool, slots string) string {
		f := "master"
		if self {
			f = "myself,master"
		}
		return idB + " 127.0.0.1:7001@17001 " + f + " - 0 0 2 connected " + slots + "\n"
	}
	converged := &cluster.Snapshot{Nodes: map[string]*cluster.Observation{
		"127.0.0.1:7000": obs(t, "127.0.0.1:7000", "ok", lineA(true)+lineB(false, "8192-16383")),
		"127.0.0.1:7001": obs(t, "127.0.0.1:7001", "ok", lineA(false)+lineB(true, "8192-16383")),
	}}
	if r := Divergence(converged); r != nil {
		t.Errorf("converged snapshot: %v", r)
	}

	bad := &cluster.Snapshot{Nodes: map[string]*cluster.Observation{
		"127.0.0.1:7000": obs(t, "127.0.0.1:7000", "ok", lineA(true)+lineB(false, "8192-16383")+
			idC+" 127.0.0.1:7002@17002 master - 0 0 0 connected\n"),
		"127.0.0.1:7001": obs(t, "127.0.0.1:7001", "ok", lineA(false)+lineB(true, "8192-16000")),
		"127.0.0.1:7002": obs(t, "127.0.0.1:7002", "fail", idC+" 127.0.0.1:7002@17002 myself,master - 0 0 0 connected\n"),
		"127.0.0.1:7003": {Addr: "127.0.0.1:7003", Err: "node 127.0.0.1:7003 unreachable: connection refused"},
	}}
	got := strings.Join(Divergence(bad), "\n")
	for _, want := range []string{
		"node 127.0.0.1:7003 unreachable",
		"127.0.0.1:7001 does not know 1 nodes",
		"127.0.0.1:7002 does not know 2 nodes",
		"127.0.0.1:7002 cluster_state:fail",
		"signatures differ: ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("divergence lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "127.0.0.1:7000 does not know") {
		t.Errorf("7000 knows every node:\n%s", got)
	}

	hs := &cluster.Snapshot{Nodes: map[string]*cluster.Observation{
		"127.0.0.1:7000": obs(t, "127.0.0.1:7000", "ok", lineA(true)+lineB(false, "8192-16383")+
			idC+" 127.0.0.1:7002@17002 handshake - 0 0 0 connected\n"),
		"127.0.0.1:7001": obs(t, "127.0.0.1:7001", "ok", lineA(false)+lineB(true, "8192-16383")),
	}}
	if got := strings.Join(Divergence(hs), "\n"); !strings.Contains(got, "127.0.0.1:7000 has node cccccccc (127.0.0.1:7002) in handshake") {
		t.Errorf("handshake: %s", got)
	}
	// C has become B's replica, but A still lists it as an empty master.
	lineC := func(self bool, role string) string {
		f := role
		if self {
			f = "myself," + role
		}
		master := "-"
		if role == "slave" {
			master = idB
		}
		return idC + " 127.0.0.1:7002@17002 " + f + " " + master + " 0 0 2 connected\n"
	}
	roles := &cluster.Snapshot{Nodes: map[string]*cluster.Observation{
		"127.0.0.1:7000": obs(t, "127.0.0.1:7000", "ok", lineA(true)+lineB(false, "8192-16383")+lineC(false, "master")),
		"127.0.0.1:7001": obs(t, "127.0.0.1:7001", "ok", lineA(false)+lineB(true, "8192-16383")+lineC(false, "slave")),
		"127.0.0.1:7002": obs(t, "127.0.0.1:7002", "ok", lineA(false)+lineB(false, "8192-16383")+lineC(true, "slave")),
	}}
	if got := Divergence(roles); len(got) != 1 || got[0] != "127.0.0.1:7000 sees cccccccc (127.0.0.1:7002) as master; it is replica of bbbbbbbb" {
		t.Errorf("roles: %q", got)
	}
	roles.Nodes["127.0.0.1:7000"] = obs(t, "127.0.0.1:7000", "ok", lineA(true)+lineB(false, "8192-16383")+lineC(false, "slave"))
	if got := Divergence(roles); got != nil {
		t.Errorf("roles agreed: %q", got)
	}
	e := &NotConvergedError{After: 5e9, Reasons: []string{"x", "y"}}
	if e.Error() != "cluster not converged after 5s: x; y" {
		t.Errorf("error text %q", e.Error())
	}
}

// MigrateArgs is shared by the pool, the legacy mover and the benchmark:
// credentials go to AUTH2 when a user is named, AUTH when only a password
// is, nowhere otherwise, and REPLACE and the timeout land where MIGRATE
// expects them.
func TestMigrateArgs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       MigrateOptions
		user, pass string
		want       []any
	}{
		{"no auth", MigrateOptions{}, "", "", []any{"MIGRATE", "h", "7001", "", 0, int64(10000), "KEYS", "a", "b"}},
		{"password", MigrateOptions{Timeout: 2 * time.Second}, "", "pw", []any{"MIGRATE", "h", "7001", "", 0, int64(2000), "AUTH", "pw", "KEYS", "a", "b"}},
		{"user", MigrateOptions{Replace: true}, "ops", "pw", []any{"MIGRATE", "h", "7001", "", 0, int64(10000), "REPLACE", "AUTH2", "ops", "pw", "KEYS", "a", "b"}},
	} {
		got := MigrateArgs("h", "7001", []string{"a", "b"}, tc.opts, tc.user, tc.pass)
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tc.want) {
			t.Errorf("%s: %#v, want %#v", tc.name, got, tc.want)
		}
	}
}

// TestConvergeWait checks WaitConverged's schedule: a first look again
// soon, doubling up to the poll, and no faster than pollPerNode per node
// on a large cluster.
func TestConvergeWait(t *testing.T) {
	for _, c := range []struct {
		nodes int
		poll  time.Duration
		want  []time.Duration
	}{
		{4, 100 * time.Millisecond, []time.Duration{10, 20, 40, 80, 100, 100}},
		{4, 5 * time.Millisecond, []time.Duration{8, 8, 8}}, // a poll under firstPoll; 4 nodes' floor
		{100, 100 * time.Millisecond, []time.Duration{200, 200, 200}},
	} {
		step := min(firstPoll, c.poll)
		var got []time.Duration
		for range c.want {
			var w time.Duration
			w, step = convergeWait(step, c.poll, c.nodes)
			got = append(got, w/time.Millisecond)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%d nodes, poll %v: waits %v ms, want %v", c.nodes, c.poll, got, c.want)
		}
	}
}
