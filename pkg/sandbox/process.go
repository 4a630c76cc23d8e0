package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/redisconf"
)

// DefaultBin is the redis-server executable looked up in PATH when
// NodeConfig.Bin is empty.
const DefaultBin = "redis-server"

// ErrPortInUse is wrapped by Start when redis-server could not bind its port
// or its cluster bus port (port+10000); callers picking ports themselves can
// retry with another.
var ErrPortInUse = errors.New("address already in use")

// stopGrace is how long Stop waits after SIGTERM before sending SIGKILL.
const stopGrace = 5 * time.Second

// NodeConfig describes one redis-server process. Zero values take the
// documented defaults.
type NodeConfig struct {
	// Bin is the redis-server executable. Default "redis-server" from PATH.
	Bin string
	// Dir holds redis.conf, nodes.conf, the log, the pid file and any data.
	// It is created (mode 0700) when missing. Required.
	Dir string
	// Host is the loopback address the node binds and is reached at.
	// Default 127.0.0.1.
	Host string
	// Port is the client port; the cluster bus uses Port+10000. Required.
	Port int
	// Password sets requirepass and masterauth (written to redis.conf only).
	// "" means no authentication.
	Password string
	// NodeTimeoutMS is cluster-node-timeout in milliseconds. Default 5000.
	NodeTimeoutMS int
	// Persistence keeps Redis' default RDB snapshots and turns on the AOF;
	// false (the default) writes `save ""` and `appendonly no`, which keeps
	// test nodes fast and their shutdown instant.
	Persistence bool
	// Extra holds further directives ("maxmemory": "100mb"), written after
	// the generated ones so they win.
	Extra map[string]string
	// Detach starts the process in its own session (setsid) so that it
	// outlives slotshift, as `slotshift sandbox up` needs. When false the
	// process is killed if the starting thread dies, so that crashed tests
	// leave no strays.
	Detach bool
	// StartTimeout bounds the wait for the first PONG. Default 10s.
	StartTimeout time.Duration
	// TLS, when set, makes the node TLS-only (see TLSConfig).
	TLS *TLSConfig
}

func (c NodeConfig) withDefaults() (NodeConfig, error) {
	if c.Bin == "" {
		c.Bin = DefaultBin
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.NodeTimeoutMS == 0 {
		c.NodeTimeoutMS = 5000
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 10 * time.Second
	}
	if c.Dir == "" {
		return c, errors.New("sandbox node: Dir is required")
	}
	if c.Port <= 0 || c.Port > inventory.MaxPort {
		return c, fmt.Errorf("sandbox node in %s: port %d out of range (need 1..%d so that the bus port port+%d is valid)", c.Dir, c.Port, inventory.MaxPort, inventory.BusPortOffset)
	}
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return c, fmt.Errorf("sandbox node dir %s: %w", c.Dir, err)
	}
	c.Dir = abs
	return c, nil
}

// LookBin resolves bin (default "redis-server") in PATH, with an error that
// tells the operator how to install it.
func LookBin(bin string) (string, error) {
	if bin == "" {
		bin = DefaultBin
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%s not found: install it with \"apt-get install redis-server\" or run scripts/install-deps.sh: %w", bin, err)
	}
	return p, nil
}

// Process is one running (or stopped) redis-server started by Start.
type Process struct {
	// Port is the client port; the bus port is Port+10000.
	Port int
	// Addr is host:port, e.g. 127.0.0.1:7000.
	Addr string
	// Dir is the node's directory (absolute).
	Dir string
	// Pid is the process id of the current incarnation.
	Pid int

	cfg  NodeConfig
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current incarnation has exited
}

// ConfPath returns the path of the node's redis.conf.
func (p *Process) ConfPath() string { return filepath.Join(p.Dir, "redis.conf") }

// LogPath returns the path of the node's log file.
func (p *Process) LogPath() string { return filepath.Join(p.Dir, "redis.log") }

// Start writes <Dir>/redis.conf, starts `redis-server <Dir>/redis.conf` and
// waits until the node answers PING (after AUTH). When the process exits or
// does not answer in time, the error carries the last lines of its log.
func Start(ctx context.Context, cfg NodeConfig) (*Process, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	bin, err := LookBin(cfg.Bin)
	if err != nil {
		return nil, err
	}
	cfg.Bin = bin
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox node %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	if err := writeConf(cfg); err != nil {
		return nil, err
	}
	p := &Process{
		Port: cfg.Port,
		Addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		Dir:  cfg.Dir,
		cfg:  cfg,
	}
	if err := p.launch(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// launch starts one incarnation of the process and waits for PONG.
func (p *Process) launch(ctx context.Context) error {
	// Truncate the log so that errors quote this incarnation only.
	_ = os.Remove(p.LogPath())
	cmd := exec.Command(p.cfg.Bin, p.ConfPath())
	cmd.Dir = p.Dir
	if p.cfg.Detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	// A file, not a pipe: a detached node must not depend on slotshift
	// staying around to drain its stderr. Only early failures land here;
	// the log file has the rest.
	errPath := filepath.Join(p.Dir, "stderr.log")
	errFile, err := os.OpenFile(errPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("redis-server %s: %w", p.Addr, err)
	}
	cmd.Stdout, cmd.Stderr = errFile, errFile
	err = cmd.Start()
	_ = errFile.Close() // the child holds its own copy
	if err != nil {
		return fmt.Errorf("start redis-server %s: %w", p.Addr, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.Pid = cmd, done, cmd.Process.Pid
	p.mu.Unlock()
	// Reap the child so that Alive and Stop see its exit and no zombie stays.
	go func() { _ = cmd.Wait(); close(done) }()

	if err := p.waitPong(ctx, done); err != nil {
		_ = p.Kill()
		<-done
		tail := p.logTail(10)
		if b, _ := os.ReadFile(errPath); len(bytes.TrimSpace(b)) > 0 {
			tail = strings.TrimSpace(string(b)) + "\n" + tail
		}
		if strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", ErrPortInUse, err)
		}
		return fmt.Errorf("redis-server %s (dir %s): %w; last log lines:\n%s", p.Addr, p.Dir, err, tail)
	}
	return nil
}

func (p *Process) waitPong(ctx context.Context, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	c := admin.NewClient(p.Addr, admin.Options{Password: p.cfg.Password, TLS: p.cfg.clientTLS(), DialTimeout: 200 * time.Millisecond, ReadTimeout: time.Second, PoolSize: 1})
	defer c.Close()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-done:
			return errors.New("exited during start-up")
		default:
		}
		// Dial first: until the port listens there is nothing to PING,
		// and the driver would log every refused dial on stderr.
		err := listening(ctx, p.Addr)
		if err == nil {
			err = c.Ping(ctx).Err()
		}
		if err == nil {
			// Another process may hold the port (our child then exits with
			// "Address already in use"): only our own pid counts as up.
			info, ierr := c.Info(ctx, "server").Result()
			if ierr == nil && cluster.InfoField(info, "process_id") == strconv.Itoa(p.Pid) {
				return nil
			}
			err = fmt.Errorf("port answered by another process (process_id %s)", cluster.InfoField(info, "process_id"))
			if ierr != nil {
				err = ierr
			}
		}
		// An error reply (NOAUTH, WRONGPASS) can only come from another
		// process on our port, since we wrote our password ourselves; keep
		// polling, our child exits soon with "Address already in use".
		last = err
		select {
		case <-done:
			return errors.New("exited during start-up")
		case <-ctx.Done():
			return fmt.Errorf("no PONG within %s: %w", p.cfg.StartTimeout, last)
		case <-tick.C:
		}
	}
}

// listening reports, as a nil error, that addr accepts TCP connections.
func listening(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 200 * time.Millisecond}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Alive reports whether the current incarnation is still running.
func (p *Process) Alive() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL (a crash, for failover tests) and waits until the
// process has exited.
func (p *Process) Kill() error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill redis-server %s (pid %d): %w", p.Addr, cmd.Process.Pid, err)
	}
	<-done
	return nil
}

// Stop sends SIGTERM and waits for the process to exit; after 5 s (or when
// ctx is done) it sends SIGKILL.
func (p *Process) Stop(ctx context.Context) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			<-done
			return nil
		}
		return fmt.Errorf("stop redis-server %s (pid %d): %w", p.Addr, cmd.Process.Pid, err)
	}
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	if err := p.Kill(); err != nil {
		return err
	}
	return ctx.Err()
}

// Restart stops the process if it still runs and starts it again from the
// same directory and redis.conf (so nodes.conf, and with it the node's id and
// cluster view, survive).
func (p *Process) Restart(ctx context.Context) error {
	if p.Alive() {
		if err := p.Stop(ctx); err != nil {
			return err
		}
	}
	return p.launch(ctx)
}

// logTail returns the last n lines of the node's log.
func (p *Process) logTail(n int) string { return tail(p.LogPath(), n) }

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// writeConf writes <Dir>/redis.conf with mode 0600 because it holds the
// password.
func writeConf(cfg NodeConfig) error {
	var b strings.Builder
	w := func(k, v string) { fmt.Fprintf(&b, "%s %s\n", k, v) }
	b.WriteString("# Generated by slotshift sandbox; rewritten on every start.\n")
	if cfg.TLS != nil {
		b.WriteString(tlsDirectives(cfg.TLS, cfg.Port))
	} else {
		w("port", strconv.Itoa(cfg.Port))
	}
	w("bind", cfg.Host)
	w("protected-mode", "no")
	w("daemonize", "no")
	w("dir", redisconf.Quote(cfg.Dir))
	w("logfile", redisconf.Quote(filepath.Join(cfg.Dir, "redis.log")))
	w("pidfile", redisconf.Quote(filepath.Join(cfg.Dir, "redis.pid")))
	w("cluster-enabled", "yes")
	w("cluster-config-file", "nodes.conf")
	w("cluster-node-timeout", strconv.Itoa(cfg.NodeTimeoutMS))
	if cfg.Password != "" {
		w("requirepass", redisconf.Quote(cfg.Password))
		w("masterauth", redisconf.Quote(cfg.Password))
	}
	if cfg.Persistence {
		w("appendonly", "yes")
	} else {
		w("save", `""`)
		w("appendonly", "no")
	}
	keys := make([]string, 0, len(cfg.Extra))
	for k := range cfg.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := cfg.Extra[k]
		if k == "" || strings.ContainsAny(k, " \t\r\n") || strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("sandbox node %s:%d: extra directive %q: name must be one word and value one line", cfg.Host, cfg.Port, k)
		}
		w(k, v)
	}
	path := filepath.Join(cfg.Dir, "redis.conf")
	// Write then chmod: an existing file keeps its old mode on O_TRUNC.
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return nil
}

// Port range FreePort draws from: p and its bus port p+10000 both stay
// below 32768, where Linux's default ephemeral range starts, so that no
// outgoing connection of a parallel test takes a bus port between FreePort
// and bind.
const (
	freePortMin = 10000
	freePortMax = 22767
)

var (
	portMu    sync.Mutex
	portGiven = map[int]bool{}
)

// StartFree is Start on a port from FreePort (cfg.Port is ignored),
// picking another port, up to five times, when a process outside this one
// took the offered port between FreePort and bind.
func StartFree(ctx context.Context, cfg NodeConfig) (*Process, error) {
	var last error
	for range 5 {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		cfg.Port = port
		p, err := Start(ctx, cfg)
		if err == nil || !errors.Is(err, ErrPortInUse) {
			return p, err
		}
		last = err
	}
	return nil, last
}

// FreePort returns a port p such that p and its cluster bus port p+10000 are
// both free on 127.0.0.1 right now. Ports are drawn at random from
// 10000-22767 (below the ephemeral range) and never handed out twice by one process, so that parallel
// tests do not collide; another process may still take the port, in which
// case Start fails with ErrPortInUse and the caller picks again.
func FreePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 1000 {
		p := freePortMin + rand.IntN(freePortMax-freePortMin+1)
		if portGiven[p] || !canListen(p) || !canListen(p+inventory.BusPortOffset) {
			continue
		}
		portGiven[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free port pair (p, p+%d) in %d-%d on 127.0.0.1", inventory.BusPortOffset, freePortMin, freePortMax)
}

func canListen(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
