package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Limits and defaults of Config.
const (
	// MaxLabs bounds the labs on one machine: lab N uses 198.18.N.0/24 and
	// the bridge slotlabN.
	MaxLabs = 10
	// MaxHosts bounds the hosts of one lab (names server1…server9).
	MaxHosts         = 9
	DefaultHosts     = 3
	DefaultStateDir  = "/var/tmp/slotshift-lab"
	DefaultBootLimit = 90 * time.Second
)

// Config describes a lab. Zero values take the documented defaults.
type Config struct {
	// Hosts is the number of hosts, server1…serverN. Default 3, at most
	// MaxHosts.
	Hosts int
	// Rootfs is the root file system every host boots from (an overlay
	// per host keeps it unchanged).
	Rootfs Rootfs
	// StateDir holds one directory per running lab (overlays, keys, boot
	// logs, lab.json). Default $SLOTSHIFT_LAB_STATE, else
	// /var/tmp/slotshift-lab.
	StateDir string
	// Keep leaves the lab running after this process exits, until Down
	// removes it (make lab). Otherwise the next Start anywhere on the
	// machine sweeps the lab once its owner process is gone.
	Keep bool
	// BootTimeout bounds booting every host. Default 90s.
	BootTimeout time.Duration
	// Log receives progress lines. Default: discarded.
	Log io.Writer
}

func (c Config) withDefaults() Config {
	if c.Hosts == 0 {
		c.Hosts = DefaultHosts
	}
	if c.StateDir == "" {
		c.StateDir = os.Getenv("SLOTSHIFT_LAB_STATE")
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.BootTimeout == 0 {
		c.BootTimeout = DefaultBootLimit
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	c.Rootfs = c.Rootfs.withDefaults()
	return c
}

// Lab is a running set of hosts on one bridge.
type Lab struct {
	ID      int    // N in 198.18.N.0/24
	Dir     string // the lab's state directory
	Bridge  string // the host's bridge, slotlabN
	Gateway string // the bridge's address, 198.18.N.1
	Rootfs  string // the root file system's path
	Hosts   []*Host
	// ClientKey is the OpenSSH private key (PEM) that logs in as root on
	// every host: SLOTSHIFT_SSH_KEY.
	ClientKey string
	// KnownHosts has one line per host with its own host key:
	// SLOTSHIFT_SSH_KNOWN_HOSTS.
	KnownHosts string
	// RootfsBuilt says whether Start had to build the root file system;
	// RootfsTime and BootTime are how long that and booting every host
	// took.
	RootfsBuilt          bool
	RootfsTime, BootTime time.Duration

	cfg       Config
	closeOnce sync.Once
	closeErr  error
	mu        sync.Mutex // guards st
	st        state
}

// Requirements reports why this machine cannot run a lab, or nil.
func Requirements() error {
	if os.Geteuid() != 0 {
		return errors.New("a lab needs root (containers, bridge, veth links)")
	}
	for _, tool := range []string{"systemd-nspawn", "nsenter", "ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is missing (apt-get install systemd-container iproute2 util-linux): %w", tool, err)
		}
	}
	return nil
}

// Start builds (or reuses) the root file system, sweeps stale labs, and
// boots cfg.Hosts hosts on a fresh bridge. On error it has torn down what
// it made.
func Start(ctx context.Context, cfg Config) (*Lab, error) {
	cfg = cfg.withDefaults()
	if cfg.Hosts < 1 || cfg.Hosts > MaxHosts {
		return nil, fmt.Errorf("lab: %d hosts: want 1..%d", cfg.Hosts, MaxHosts)
	}
	if err := Requirements(); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	logf := func(format string, a ...any) { fmt.Fprintf(cfg.Log, "lab: "+format+"\n", a...) }
	start := time.Now()
	rootfs, built, err := cfg.Rootfs.Build(ctx, logf)
	if err != nil {
		return nil, err
	}
	l := &Lab{Rootfs: rootfs, RootfsBuilt: built, RootfsTime: time.Since(start), cfg: cfg}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("lab state: %w", err)
	}
	if swept, err := Sweep(cfg.StateDir, false); err != nil {
		logf("sweeping stale labs: %v", err)
	} else if len(swept) > 0 {
		logf("swept stale labs: %s", strings.Join(swept, ", "))
	}
	if err := l.claim(); err != nil {
		return nil, err
	}
	bootStart := time.Now()
	if err := l.boot(ctx, logf); err != nil {
		_ = l.Close()
		return nil, err
	}
	l.BootTime = time.Since(bootStart)
	logf("lab %d: %d hosts up in %s on %s (%s/24)", l.ID, len(l.Hosts), l.BootTime.Round(time.Millisecond), l.Bridge, l.Gateway)
	return l, nil
}

// claim takes the first free lab number and creates its bridge.
func (l *Lab) claim() error {
	owner := os.Getpid()
	if l.cfg.Keep {
		owner = 0
	}
	for id := range MaxLabs {
		dir := filepath.Join(l.cfg.StateDir, "lab"+strconv.Itoa(id))
		if err := os.Mkdir(dir, 0o755); err != nil {
			continue
		}
		l.ID, l.Dir = id, dir
		l.Bridge = "slotlab" + strconv.Itoa(id)
		l.Gateway = fmt.Sprintf("198.18.%d.1", id)
		l.st = state{ID: id, Owner: owner, OwnerStart: processStart(owner), Bridge: l.Bridge}
		if err := l.save(); err != nil {
			_ = os.RemoveAll(dir)
			return err
		}
		// A bridge left by a lab whose state is gone is ours to replace.
		_ = run(context.Background(), "ip", "link", "del", l.Bridge)
		if err := l.bridgeUp(); err != nil {
			_ = l.Close()
			return err
		}
		return nil
	}
	return fmt.Errorf("lab: all %d labs are in use under %s (make lab-down removes them)", MaxLabs, l.cfg.StateDir)
}

func (l *Lab) bridgeUp() error {
	ctx := context.Background()
	for _, args := range [][]string{
		{"link", "add", l.Bridge, "type", "bridge"},
		{"addr", "add", l.Gateway + "/24", "dev", l.Bridge},
		{"link", "set", l.Bridge, "up"},
	} {
		if err := run(ctx, "ip", args...); err != nil {
			return fmt.Errorf("lab bridge: %w", err)
		}
	}
	return nil
}

// boot prepares every host and boots them in parallel.
func (l *Lab) boot(ctx context.Context, logf func(string, ...any)) error {
	client, err := newKeyPair("slotshift-lab")
	if err != nil {
		return err
	}
	l.ClientKey = string(client.private)
	if err := os.WriteFile(filepath.Join(l.Dir, "id_ed25519"), client.private, 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	var known strings.Builder
	for i := 1; i <= l.cfg.Hosts; i++ {
		h, err := l.newHost(i, client)
		if err != nil {
			return err
		}
		l.Hosts = append(l.Hosts, h)
		known.WriteString(h.knownHosts + "\n")
	}
	l.KnownHosts = known.String()
	if err := os.WriteFile(filepath.Join(l.Dir, "known_hosts"), []byte(l.KnownHosts), 0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	bctx, cancel := context.WithTimeout(ctx, l.cfg.BootTimeout)
	defer cancel()
	g, gctx := errgroup.WithContext(bctx)
	for _, h := range l.Hosts {
		g.Go(func() error {
			if err := h.boot(gctx); err != nil {
				return err
			}
			logf("%s (%s) up in %s", h.Name, h.Addr, h.BootTime.Round(time.Millisecond))
			return nil
		})
	}
	return g.Wait()
}

// Host returns the host named name (server1…), or nil.
func (l *Lab) Host(name string) *Host {
	for _, h := range l.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Close tears the lab down: containers, links, bridge, overlays and state.
// It is safe to call more than once.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		for _, h := range l.Hosts {
			h.stop()
		}
		l.mu.Lock()
		st := l.st
		l.mu.Unlock()
		if err := teardown(st, l.Dir); err != nil {
			errs = append(errs, err)
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// run runs a host command and returns its output in the error.
func run(ctx context.Context, name string, args ...string) error {
	_, err := output(ctx, name, args...)
	return err
}

func output(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(string(out), 400))
	}
	return out, nil
}
