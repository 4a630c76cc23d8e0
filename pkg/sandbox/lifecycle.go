package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/logkey"
)

// wanted is one node Up must have running: its record, and the loopback
// host it binds.
type wanted struct {
	ns   NodeState
	host string
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
	wants, err := wantedNodes(inv, dir)
	if err != nil {
		return nil, err
	}
	if _, err := LookBin(opts.Bin); err != nil {
		return nil, err
	}
	running, err := runningNodes(dir)
	if err != nil {
		return nil, err
	}
	if st, ok := allRunning(dir, wants, running); ok {
		log.Info("sandbox already running", "dir", dir, "nodes", len(wants))
		return st, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox dir %s: %w", dir, err)
	}
	st := &State{Dir: dir, Nodes: make([]NodeState, len(wants))}
	tlsCfg, err := upTLS(dir, opts)
	if err != nil {
		return nil, err
	}
	started, err := startMissing(ctx, inv, opts, tlsCfg, log, wants, running, st)
	if err == nil {
		err = writeState(st)
	}
	if err != nil {
		stopAll(started)
		return nil, err
	}
	return st, nil
}

// wantedNodes lists inv's nodes with their directories under dir, refusing
// a server whose address is not loopback.
func wantedNodes(inv *inventory.Inventory, dir string) ([]wanted, error) {
	var wants []wanted
	for _, s := range inv.Servers {
		host, ok := loopbackHost(s.Address)
		if !ok {
			return nil, fmt.Errorf("server %s (%s): address %q is not loopback; the sandbox runs nodes only on 127.0.0.1, localhost or ::1", s.Name, where(inv.Source, s.Line), s.Address)
		}
		for _, n := range s.Nodes {
			wants = append(wants, wanted{host: host, ns: NodeState{
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
	return wants, nil
}

// runningNodes returns the nodes state.json records whose process still
// runs, by directory.
func runningNodes(dir string) (map[string]NodeState, error) {
	prev, err := readState(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	running := map[string]NodeState{}
	if prev != nil {
		for _, ns := range prev.Nodes {
			if pidIsNode(ns.Pid, ns.Port) {
				running[ns.Dir] = ns
			}
		}
	}
	return running, nil
}

// allRunning returns the state, AlreadyRunning set, when every wanted node
// is running already.
func allRunning(dir string, wants []wanted, running map[string]NodeState) (*State, bool) {
	if len(running) != len(wants) {
		return nil, false
	}
	st := &State{Dir: dir, Nodes: make([]NodeState, len(wants)), AlreadyRunning: true}
	for i, w := range wants {
		ns, ok := running[w.ns.Dir]
		if !ok {
			return nil, false
		}
		st.Nodes[i] = ns
	}
	return st, true
}

// startMissing starts every wanted node that is not running, eight at a
// time, filling st.Nodes. It returns the processes it started, also on
// error, so that the caller can stop them.
func startMissing(ctx context.Context, inv *inventory.Inventory, opts Options, tlsCfg *TLSConfig, log *slog.Logger, wants []wanted, running map[string]NodeState, st *State) ([]*Process, error) {
	var mu sync.Mutex
	var started []*Process
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, w := range wants {
		if ns, ok := running[w.ns.Dir]; ok {
			st.Nodes[i] = ns
			log.Info("sandbox node already running", logkey.Server, ns.Server, logkey.Node, ns.Addr, "pid", ns.Pid)
			continue
		}
		g.Go(func() error {
			p, err := Start(gctx, NodeConfig{
				Bin:           opts.Bin,
				Dir:           w.ns.Dir,
				Host:          w.host,
				Port:          w.ns.Port,
				Password:      opts.Password,
				NodeTimeoutMS: inv.Cluster.NodeTimeoutMS,
				Persistence:   opts.Persistence,
				Extra:         inv.Cluster.RedisConfig,
				Detach:        true,
				TLS:           tlsCfg,
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
			log.Info("sandbox node started", logkey.Server, ns.Server, logkey.Node, ns.Addr, "pid", ns.Pid, "role", string(ns.Role))
			return nil
		})
	}
	err := g.Wait()
	return started, err
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
	return StatusWith(ctx, dir, admin.Options{Password: password})
}

// StatusWith is Status with the credentials (and TLS) of opts.
func StatusWith(ctx context.Context, dir string, opts admin.Options) ([]NodeStatus, error) {
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
			out[i] = nodeStatus(ctx, ns, opts)
		}()
	}
	wg.Wait()
	return out, ctx.Err()
}

func nodeStatus(ctx context.Context, ns NodeState, opts admin.Options) NodeStatus {
	s := NodeStatus{Server: ns.Server, Addr: ns.Addr, Pid: ns.Pid, DeclaredRole: ns.Role, Alive: pidIsNode(ns.Pid, ns.Port)}
	if !s.Alive {
		s.Err = "process not running"
		return s
	}
	opts.DialTimeout, opts.ReadTimeout, opts.PoolSize = time.Second, 2*time.Second, 1
	p := admin.NewPool(opts)
	defer p.Close()
	v, err := p.Vitals(ctx, ns.Addr, true)
	if err != nil {
		s.Err = fmt.Sprintf("query %s: %v", ns.Addr, err)
		return s
	}
	s.ClusterState = v.ClusterInfo["cluster_state"]
	s.KnownNodes, _ = strconv.Atoi(v.ClusterInfo["cluster_known_nodes"])
	if me, ok := cluster.Myself(v.Nodes); ok {
		s.Slots = me.Slots.Len()
		s.Role = string(inventory.RoleMaster)
		if me.IsReplica() {
			s.Role = string(inventory.RoleReplica)
		}
	}
	return s
}
