package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/slotshift/slotshift/pkg/atomicfile"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
)

// DefaultDir is the state directory Up, Down and Status use by default.
const DefaultDir = ".sandbox"

// stateFile is the file, inside the state directory, that records what Up
// started.
const stateFile = "state.json"

// Options configure Up. Zero values take the documented defaults.
type Options struct {
	// Dir is the state directory; each node gets Dir/<server>-<port>/.
	// Default ".sandbox".
	Dir string
	// Password sets requirepass and masterauth on every node.
	Password string
	// Bin is the redis-server executable. Default "redis-server" from PATH.
	Bin string
	// Persistence turns RDB snapshots and the AOF on (see NodeConfig).
	Persistence bool
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// State is what Up started, as recorded in <Dir>/state.json.
type State struct {
	// Dir is the state directory (absolute).
	Dir   string      `json:"dir"`
	Nodes []NodeState `json:"nodes"`
	// AlreadyRunning is true when Up found every node running and started
	// nothing.
	AlreadyRunning bool `json:"-"`
}

// NodeState is one process Up started.
type NodeState struct {
	Server string `json:"server"`
	Addr   string `json:"addr"`
	Port   int    `json:"port"`
	// Role is the role the inventory declares; Status reports the live one.
	Role inventory.Role `json:"role"`
	Pid  int            `json:"pid"`
	Dir  string         `json:"dir"`
}

// loopbackHost maps an inventory address to the address the sandbox node
// binds, or reports that it is not loopback.
func loopbackHost(addr string) (string, bool) {
	if strings.EqualFold(addr, "localhost") {
		return "127.0.0.1", true
	}
	ip := net.ParseIP(addr)
	if ip == nil || !ip.IsLoopback() {
		return "", false
	}
	return ip.String(), true
}

// Up starts every node of inv as a detached local redis-server process in
// <Dir>/<server>-<port>/ and records them in <Dir>/state.json. Every server
// address must be loopback (127.x, localhost or ::1). When the recorded
// processes are all still running Up starts nothing and returns the state
// with AlreadyRunning set; recorded nodes that died are started again from
// their directories. If any node fails to start, Up stops the ones it
// started and returns the error.
func Up(ctx context.Context, inv *inventory.Inventory, opts Options) (*State, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Dir == "" {
		opts.Dir = DefaultDir
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("sandbox dir %s: %w", opts.Dir, err)
	}
	type want struct {
		ns   NodeState
		host string
	}
	var wants []want
	for _, s := range inv.Servers {
		host, ok := loopbackHost(s.Address)
		if !ok {
			return nil, fmt.Errorf("server %s (%s): address %q is not loopback; the sandbox runs nodes only on 127.0.0.1, localhost or ::1", s.Name, where(inv.Source, s.Line), s.Address)
		}
		for _, n := range s.Nodes {
			wants = append(wants, want{host: host, ns: NodeState{
				Server: s.Name,
				Addr:   net.JoinHostPort(host, strconv.Itoa(n.Port)),
				Port:   n.Port,
				Role:   n.Role,
				Dir:    filepath.Join(dir, fmt.Sprintf("%s-%d", s.Name, n.Port)),
			}})
		}
	}
	if len(wants) == 0 {
		return nil, errors.New("sandbox up: the inventory has no nodes")
	}
	if _, err := LookBin(opts.Bin); err != nil {
		return nil, err
	}

	prev, err := readState(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	running := map[string]NodeState{} // by Dir
	if prev != nil {
		for _, ns := range prev.Nodes {
			if pidIsNode(ns.Pid, ns.Port) {
				running[ns.Dir] = ns
			}
		}
	}
	st := &State{Dir: dir, Nodes: make([]NodeState, len(wants))}
	if len(running) == len(wants) {
		all := true
		for i, w := range wants {
			ns, ok := running[w.ns.Dir]
			if !ok {
				all = false
				break
			}
			st.Nodes[i] = ns
		}
		if all {
			st.AlreadyRunning = true
			log.Info("sandbox already running", "dir", dir, "nodes", len(wants))
			return st, nil
		}
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox dir %s: %w", dir, err)
	}
	nodeTimeout := inv.Cluster.NodeTimeoutMS
	var mu sync.Mutex
	var started []*Process
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, w := range wants {
		if ns, ok := running[w.ns.Dir]; ok {
			st.Nodes[i] = ns
			log.Info("sandbox node already running", "server", ns.Server, "addr", ns.Addr, "pid", ns.Pid)
			continue
		}
		g.Go(func() error {
			p, err := Start(gctx, NodeConfig{
				Bin:           opts.Bin,
				Dir:           w.ns.Dir,
				Host:          w.host,
				Port:          w.ns.Port,
				Password:      opts.Password,
				NodeTimeoutMS: nodeTimeout,
				Persistence:   opts.Persistence,
				Extra:         inv.Cluster.RedisConfig,
				Detach:        true,
			})
			if err != nil {
				return fmt.Errorf("server %s node %d: %w", w.ns.Server, w.ns.Port, err)
			}
			mu.Lock()
			started = append(started, p)
			mu.Unlock()
			ns := w.ns
			ns.Pid = p.Pid
			st.Nodes[i] = ns
			log.Info("sandbox node started", "server", ns.Server, "addr", ns.Addr, "pid", ns.Pid, "role", string(ns.Role))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		stopAll(started)
		return nil, err
	}
	if err := writeState(st); err != nil {
		stopAll(started)
		return nil, err
	}
	return st, nil
}

// stopAll stops processes Up started before a failure, with a fresh context
// because the caller's may be the reason for the failure.
func stopAll(ps []*Process) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*stopGrace)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.Stop(ctx) }()
	}
	wg.Wait()
}

func where(source string, line int) string {
	if source == "" {
		source = "inventory"
	}
	if line > 0 {
		return fmt.Sprintf("%s:%d", source, line)
	}
	return source
}

func readState(dir string) (*State, error) {
	path := filepath.Join(dir, stateFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("sandbox state %s: %w", path, err)
	}
	st.Dir = dir
	return &st, nil
}

// writeState writes state.json atomically so that a crash never leaves a
// half-written record of running processes.
func writeState(st *State) error {
	return atomicfile.WriteJSON(filepath.Join(st.Dir, stateFile), st, 0o600)
}

// pidIsNode reports whether pid is a live (not zombie) redis-server serving
// port. It reads /proc/<pid>/cmdline, where redis-server shows
// "redis-server 127.0.0.1:<port> [cluster]" once started (or its argv,
// "redis-server <dir>/redis.conf", a moment before), so a pid recycled by
// another program is never mistaken for the node.
func pidIsNode(pid, port int) bool {
	if pid <= 0 {
		return false
	}
	if !pidRunning(pid) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	cmd := strings.ReplaceAll(string(b), "\x00", " ")
	if !strings.Contains(cmd, "redis-server") {
		return false
	}
	p := strconv.Itoa(port)
	return strings.Contains(cmd, ":"+p+" ") || strings.HasSuffix(strings.TrimSpace(cmd), ":"+p) ||
		strings.Contains(cmd, "-"+p+"/redis.conf")
}

// pidRunning reports whether pid exists and is not a zombie.
func pidRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may itself
	// contain spaces or parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}

// Down stops exactly the processes recorded in <dir>/state.json (SIGTERM,
// then SIGKILL after 5 s), skipping any pid that no longer is that node's
// redis-server, and then removes dir. With no state file it does nothing.
func Down(ctx context.Context, dir string) error {
	if dir == "" {
		dir = DefaultDir
	}
	st, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, ns := range st.Nodes {
		g.Go(func() error { return stopPid(gctx, ns) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove sandbox dir %s: %w", dir, err)
	}
	return nil
}

func stopPid(ctx context.Context, ns NodeState) error {
	if !pidIsNode(ns.Pid, ns.Port) {
		return nil
	}
	if err := syscall.Kill(ns.Pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s %s (pid %d): %w", ns.Server, ns.Addr, ns.Pid, err)
	}
	deadline := time.Now().Add(stopGrace)
	for pidIsNode(ns.Pid, ns.Port) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err := syscall.Kill(ns.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("kill %s %s (pid %d): %w", ns.Server, ns.Addr, ns.Pid, err)
			}
			deadline = time.Now().Add(stopGrace)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			// Keep going: the next round sends SIGKILL and waits briefly.
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// NodeStatus is one recorded node as it is now.
type NodeStatus struct {
	Server string `json:"server"`
	Addr   string `json:"addr"`
	Pid    int    `json:"pid"`
	Alive  bool   `json:"alive"`
	// DeclaredRole is the inventory's role; Role is what Redis reports
	// ("master" or "replica"), "" when the node did not answer.
	DeclaredRole inventory.Role `json:"declared_role"`
	Role         string         `json:"role,omitempty"`
	ClusterState string         `json:"cluster_state,omitempty"`
	KnownNodes   int            `json:"known_nodes,omitempty"`
	Slots        int            `json:"slots"`
	// Err says why the node could not be queried.
	Err string `json:"error,omitempty"`
}

// Status reports every node recorded in <dir>/state.json: whether its
// process lives, and what it says about itself (role from INFO replication,
// cluster_state and known nodes from CLUSTER INFO, its slot count from
// CLUSTER NODES).
func Status(ctx context.Context, dir, password string) ([]NodeStatus, error) {
	if dir == "" {
		dir = DefaultDir
	}
	st, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no sandbox in %s (run `slotshift sandbox up`): %w", dir, err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]NodeStatus, len(st.Nodes))
	var wg sync.WaitGroup
	for i, ns := range st.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = nodeStatus(ctx, ns, password)
		}()
	}
	wg.Wait()
	return out, ctx.Err()
}

func nodeStatus(ctx context.Context, ns NodeState, password string) NodeStatus {
	s := NodeStatus{Server: ns.Server, Addr: ns.Addr, Pid: ns.Pid, DeclaredRole: ns.Role, Alive: pidIsNode(ns.Pid, ns.Port)}
	if !s.Alive {
		s.Err = "process not running"
		return s
	}
	c := redis.NewClient(&redis.Options{
		Addr: ns.Addr, Password: password,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second,
		MaxRetries: -1, PoolSize: 1, DisableIdentity: true, Protocol: 2,
	})
	defer c.Close()
	var repl, info, nodes *redis.StringCmd
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		repl = p.Info(ctx, "replication")
		info = p.ClusterInfo(ctx)
		nodes = p.ClusterNodes(ctx)
		return nil
	})
	if err != nil {
		s.Err = fmt.Sprintf("query %s: %v", ns.Addr, err)
		return s
	}
	switch r := cluster.InfoField(repl.Val(), "role"); r {
	case "slave":
		s.Role = string(inventory.RoleReplica)
	default:
		s.Role = r
	}
	s.ClusterState = cluster.InfoField(info.Val(), "cluster_state")
	s.KnownNodes, _ = strconv.Atoi(cluster.InfoField(info.Val(), "cluster_known_nodes"))
	if parsed, err := cluster.ParseNodes(nodes.Val()); err == nil {
		if me, ok := cluster.Myself(parsed); ok {
			s.Slots = me.Slots.Len()
		}
	}
	return s
}
