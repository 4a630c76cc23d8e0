package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/provision/sshrunner"
	"github.com/slotshift/slotshift/pkg/redisconf"
	"github.com/slotshift/slotshift/pkg/report"
)

// Runner runs commands and transfers files on one server. sshrunner.Client
// implements it over SSH and SFTP.
type Runner interface {
	// Run runs cmd with sh (as root) and returns its output; a non-zero
	// exit is an error. cmd never holds a secret; stdin may.
	Run(ctx context.Context, cmd string, stdin io.Reader) (stdout, stderr []byte, err error)
	// ReadFile returns path's content; a missing file matches os.ErrNotExist.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// WriteFile replaces path atomically with data, mode, owner and group.
	WriteFile(ctx context.Context, path string, data []byte, mode os.FileMode, owner, group string) error
	Close() error
}

// Options configure Run. Zero values take the documented defaults.
type Options struct {
	// Password is requirepass and masterauth; it reaches the servers only
	// inside files written over SFTP.
	Password string
	// Key is the PEM private key content; Passphrase decrypts it.
	Key, Passphrase string
	// KnownHosts holds known_hosts lines every host key is checked against.
	KnownHosts string
	// TrustOnFirstUse accepts hosts missing from KnownHosts (never a
	// mismatching key) and reports their fingerprints as warnings.
	TrustOnFirstUse bool
	// DryRun connects, compares and reports diffs and the commands that
	// would run; it changes nothing.
	DryRun bool
	// AllowRestart lets provision restart a running node whose changes
	// cannot be applied live.
	AllowRestart bool
	// Concurrency bounds the servers provisioned at once. Default 4.
	Concurrency int
	Log         *slog.Logger
	// CommandTimeout bounds each remote command. Default 5m.
	CommandTimeout time.Duration
	// StartTimeout bounds the wait for a started node's PING. Default 30s.
	StartTimeout time.Duration
	// System overrides the system directories (tests); zero = /etc.
	System System
	// Dial connects to a server; nil = SSH with the credentials above.
	Dial func(ctx context.Context, inv *inventory.Inventory, server inventory.Server) (Runner, error)
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = 5 * time.Minute
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.Dial == nil {
		o.Dial = o.sshDial
	}
	return o
}

// SSHTarget returns the user and host:port provision connects to for server.
func SSHTarget(inv *inventory.Inventory, server inventory.Server) (user, addr string) {
	user, port := server.SSH.User, server.SSH.Port
	if user == "" {
		user = inv.SSH.User
	}
	if user == "" {
		user = "root"
	}
	if port == 0 {
		port = inv.SSH.Port
	}
	if port == 0 {
		port = 22
	}
	return user, net.JoinHostPort(server.Address, strconv.Itoa(port))
}

func (o Options) sshDial(ctx context.Context, inv *inventory.Inventory, server inventory.Server) (Runner, error) {
	user, addr := SSHTarget(inv, server)
	c, err := sshrunner.Dial(ctx, sshrunner.Config{
		Name: server.Name, Addr: addr, User: user,
		Key: o.Key, Passphrase: o.Passphrase, KnownHosts: o.KnownHosts,
		TrustOnFirstUse: o.TrustOnFirstUse, CommandTimeout: o.CommandTimeout, Log: o.Log,
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Run provisions every server of inv, several at a time. Per-server
// problems are checks in the result; the error is only for a run that
// could not go on (bad input, cancelled context).
func Run(ctx context.Context, inv *inventory.Inventory, opts Options) (*report.ProvisionSection, []report.Check, error) {
	if inv == nil {
		return nil, nil, errors.New("provision: no inventory")
	}
	if opts.Password == "" {
		return nil, nil, errors.New("provision: no password: requirepass and masterauth need one")
	}
	opts = opts.withDefaults()
	runs := make([]*serverRun, len(inv.Servers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	for i, srv := range inv.Servers {
		sr := &serverRun{
			opts: opts, inv: inv, server: srv,
			scrub: NewScrubber(opts.Password, opts.Key, opts.Passphrase),
			log:   opts.Log.With("server", srv.Name),
			res:   report.ServerResult{Server: srv.Name, Files: []report.FileResult{}},
		}
		runs[i] = sr
		g.Go(func() error {
			sr.run(gctx)
			// A server's failure is data; only cancellation stops the others.
			return ctx.Err()
		})
	}
	err := g.Wait()
	sec := &report.ProvisionSection{DryRun: opts.DryRun}
	var checks []report.Check
	for _, sr := range runs {
		sec.Servers = append(sec.Servers, sr.res)
		checks = append(checks, sr.checks...)
	}
	if err != nil {
		return sec, checks, fmt.Errorf("provision: %w", err)
	}
	return sec, checks, nil
}

type serverRun struct {
	opts   Options
	inv    *inventory.Inventory
	server inventory.Server
	s      Settings
	r      Runner
	scrub  Scrubber
	log    *slog.Logger
	res    report.ServerResult
	checks []report.Check
}

func (sr *serverRun) add(id string, st report.Status, node, msg string) *report.Check {
	sr.checks = append(sr.checks, report.Check{ID: id, Status: st, Node: node,
		Message: sr.scrub.String(msg), File: sr.inv.Source, Line: sr.server.Line})
	return &sr.checks[len(sr.checks)-1]
}

// mutate records cmd and runs it unless this is a dry run.
func (sr *serverRun) mutate(ctx context.Context, cmd string) error {
	sr.res.Commands = append(sr.res.Commands, sr.scrub.String(cmd))
	if sr.opts.DryRun {
		return nil
	}
	return sr.exec(ctx, cmd)
}

func (sr *serverRun) exec(ctx context.Context, cmd string) error {
	start := time.Now()
	out, stderr, err := sr.r.Run(ctx, cmd, nil)
	sr.log.Debug("remote command", "cmd", sr.scrub.String(cmd), "duration", time.Since(start),
		"stdout", sr.scrub.String(string(out)), "stderr", sr.scrub.String(string(stderr)))
	if err != nil {
		return errors.New(sr.scrub.String(err.Error()))
	}
	return nil
}

func (sr *serverRun) query(ctx context.Context, cmd string) (string, error) {
	out, stderr, err := sr.r.Run(ctx, cmd, nil)
	sr.log.Debug("remote query", "cmd", sr.scrub.String(cmd), "stderr", sr.scrub.String(string(stderr)))
	if err != nil {
		return "", errors.New(sr.scrub.String(err.Error()))
	}
	return string(out), nil
}

func (sr *serverRun) nodeAddr(port int) string {
	return net.JoinHostPort(sr.server.Address, strconv.Itoa(port))
}

func (sr *serverRun) run(ctx context.Context) {
	name := sr.server.Name
	start := time.Now()
	r, err := sr.opts.Dial(ctx, sr.inv, sr.server)
	if err != nil {
		// A refused host key is a verdict (fail); anything else means the
		// check could not run (error).
		st := report.Error
		var hk *sshrunner.HostKeyError
		if errors.As(err, &hk) {
			st = report.Fail
		}
		c := sr.add("provision.connect", st, name, err.Error())
		if hk != nil {
			c.Observed = hk.Fingerprint
			c.Hint = "verify the fingerprint out of band, then add the host key to SLOTSHIFT_SSH_KNOWN_HOSTS"
		}
		return
	}
	sr.r = r
	defer r.Close()
	user, addr := SSHTarget(sr.inv, sr.server)
	c := sr.add("provision.connect", report.Pass, name, fmt.Sprintf("connected to %s as %s", addr, user))
	c.Duration = report.SecondsOf(time.Since(start))
	if hk, ok := r.(interface{ HostKey() (string, bool) }); ok {
		if fp, tofu := hk.HostKey(); tofu {
			w := sr.add("provision.host_key", report.Warn, name, "host key trusted on first use: "+fp)
			w.Observed = fp
			w.Hint = "add this host key to SLOTSHIFT_SSH_KNOWN_HOSTS once verified"
		}
	}
	if err := sr.provision(ctx); err != nil {
		sr.add("provision.server", report.Error, name, err.Error())
	}
}

type preflight struct {
	os, distro, uid, service, redis, ufw string
	freeKB                               int64
}

func (sr *serverRun) preflight(ctx context.Context) (preflight, error) {
	s := SettingsFor(sr.inv, sr.opts.System)
	script := `echo "os=$(uname -s)"
. /etc/os-release 2>/dev/null; echo "distro=${PRETTY_NAME:-unknown}"
echo "uid=$(id -u)"
if [ -d /run/systemd/system ]; then echo service=systemd; else echo service=daemon; fi
echo "redis=$(command -v redis-server || true)"
d=` + sshrunner.Quote(s.Paths.Data) + `; while [ ! -d "$d" ]; do d=$(dirname "$d"); done
echo "free_kb=$(df -Pk "$d" | awk 'NR==2{print $4}')"
if command -v ufw >/dev/null 2>&1 && ufw status 2>/dev/null | grep -q '^Status: active'; then echo ufw=active; else echo ufw=inactive; fi`
	out, err := sr.query(ctx, script)
	if err != nil {
		return preflight{}, fmt.Errorf("preflight: %w", err)
	}
	var p preflight
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "os":
			p.os = v
		case "distro":
			p.distro = v
		case "uid":
			p.uid = v
		case "service":
			p.service = v
		case "redis":
			p.redis = v
		case "ufw":
			p.ufw = v
		case "free_kb":
			p.freeKB, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return p, nil
}

const (
	minFreeKB  = 256 * 1024
	warnFreeKB = 1024 * 1024
)

// nodeState is what answers on a node's port before provision touches it.
type nodeState int

const (
	portFree    nodeState = iota // nothing listens (or it is unreachable)
	nodeServing                  // our Redis: PONG with our password
	portForeign                  // something else, or Redis with another password
)

func (sr *serverRun) client(port int) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: sr.nodeAddr(port), Password: sr.opts.Password,
		DialTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second,
		MaxRetries: -1, DialerRetries: 1, PoolSize: 1, DisableIdentity: true, Protocol: 2,
	})
}

func (sr *serverRun) probe(ctx context.Context, port int) (nodeState, error) {
	// A plain dial first: a closed port is the common case while a node
	// starts, and go-redis would log every refused dial.
	d := net.Dialer{Timeout: 2 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", sr.nodeAddr(port))
	if err != nil {
		return portFree, err
	}
	_ = nc.Close()
	c := sr.client(port)
	defer c.Close()
	err = c.Ping(ctx).Err()
	var op *net.OpError
	switch {
	case err == nil:
		return nodeServing, nil
	case errors.As(err, &op) && op.Op == "dial":
		return portFree, err
	default:
		return portForeign, err
	}
}

func (sr *serverRun) provision(ctx context.Context) error {
	name := sr.server.Name
	pf, err := sr.preflight(ctx)
	if err != nil {
		return err
	}
	if pf.os != "Linux" || pf.uid != "0" {
		sr.add("provision.preflight", report.Fail, name,
			fmt.Sprintf("need Linux with root (or sudo -n): os=%q uid=%q", pf.os, pf.uid))
		return nil
	}
	sr.add("provision.preflight", report.Pass, name, fmt.Sprintf("%s, root, service manager %s", pf.distro, pf.service))
	disk := sr.add("provision.disk", report.Pass, name, fmt.Sprintf("%d MiB free for data", pf.freeKB/1024))
	disk.Observed, disk.Threshold, disk.Unit = pf.freeKB/1024, minFreeKB/1024, "MiB"
	switch {
	case pf.freeKB < minFreeKB:
		disk.Status = report.Fail
		return nil
	case pf.freeKB < warnFreeKB:
		disk.Status = report.Warn
	}

	s := SettingsFor(sr.inv, sr.opts.System)
	if s.Service == ServiceAuto {
		s.Service = pf.service
	}
	sr.s = s

	// Ports: free, or already ours.
	state := map[int]nodeState{}
	for _, n := range sr.server.Nodes {
		st, perr := sr.probe(ctx, n.Port)
		state[n.Port] = st
		if st == portForeign {
			sr.add("provision.port", report.Fail, sr.nodeAddr(n.Port),
				fmt.Sprintf("port %d answers but not as this cluster's Redis (another process, or another password): %v", n.Port, perr))
		}
	}

	// Install.
	if pf.redis == "" {
		if s.Install != InstallApt {
			c := sr.add("provision.install", report.Fail, name, "redis-server is not installed and install is "+s.Install)
			c.Hint = "install redis-server, or set provision.install: apt"
			return nil
		}
		if err := sr.mutate(ctx, "DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server"); err != nil {
			sr.add("provision.install", report.Fail, name, err.Error())
			return nil
		}
		sr.add("provision.install", report.Pass, name, "redis-server installed")
	}
	if s.Service == ServiceSystemd && s.Install == InstallApt {
		// The distribution's default instance listens on 6379 and is not
		// part of the cluster.
		if err := sr.mutate(ctx, "if systemctl is-enabled --quiet redis-server.service 2>/dev/null; then systemctl disable --now redis-server.service; fi"); err != nil {
			sr.add("provision.install", report.Warn, name, "disable default redis-server.service: "+err.Error())
		}
	}

	// Kernel settings, now; the files below persist them.
	if s.KernelTuning {
		cmd := "sysctl -q -w vm.overcommit_memory=1 net.core.somaxconn=65535 && " +
			"if [ -w /sys/kernel/mm/transparent_hugepage/enabled ]; then echo never > /sys/kernel/mm/transparent_hugepage/enabled; fi"
		if err := sr.mutate(ctx, cmd); err != nil {
			sr.add("provision.kernel", report.Warn, name, err.Error())
		} else if s.Service != ServiceSystemd {
			sr.add("provision.kernel", report.Warn, name, "transparent huge pages set now but not persisted: no systemd")
		}
	}

	files, err := RenderWith(sr.inv, sr.server, sr.opts.Password, s)
	if err != nil {
		return err
	}
	dirs := Dirs(sr.server, s)
	paths := make([]string, 0, len(files)+len(dirs))
	for _, d := range dirs {
		paths = append(paths, d.Path)
	}
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	meta, err := sr.stat(ctx, paths)
	if err != nil {
		return err
	}
	// One command for every directory: each SSH session costs a round
	// trip and a fork on the server.
	var mkdirs []string
	for _, d := range dirs {
		m, ok := meta[d.Path]
		if ok && (d.CreateOnly || m.mode == d.Mode && m.owner == d.Owner && m.group == d.Group) {
			continue
		}
		mkdirs = append(mkdirs, fmt.Sprintf("install -d -m %04o -o %s -g %s %s", d.Mode, sshrunner.Quote(d.Owner), sshrunner.Quote(d.Group), sshrunner.Quote(d.Path)))
	}
	if len(mkdirs) > 0 {
		if err := sr.mutate(ctx, strings.Join(mkdirs, " && ")); err != nil {
			return fmt.Errorf("directories: %w", err)
		}
	}

	old := map[string][]byte{}
	changed := map[string]bool{}
	for _, f := range files {
		prev, err := sr.r.ReadFile(ctx, f.Path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return errors.New(sr.scrub.String(err.Error()))
		}
		old[f.Path] = prev
		m := meta[f.Path]
		contentSame := err == nil && bytes.Equal(prev, f.Content)
		metaSame := m.mode == f.Mode && m.owner == f.Owner && m.group == f.Group
		fr := report.FileResult{Path: f.Path, Mode: fmt.Sprintf("%04o", f.Mode), Changed: !contentSame || !metaSame}
		if !contentSame {
			a, b := prev, f.Content
			if f.Secret {
				a, b = redactConf(a), redactConf(b)
			}
			fr.Diff = sr.scrub.String(UnifiedDiff(f.Path, a, b))
			if fr.Diff == "" {
				fr.Diff = "(only a secret value changed)"
			}
		}
		msg := "unchanged"
		switch {
		case fr.Changed && sr.opts.DryRun:
			msg = "would change"
		case fr.Changed:
			msg = "changed"
		}
		if !contentSame && metaSame {
			msg += " (content)"
		} else if contentSame && !metaSame {
			msg += fmt.Sprintf(" (mode/owner %04o %s:%s)", m.mode, m.owner, m.group)
		}
		if fr.Changed && !sr.opts.DryRun {
			if err := sr.r.WriteFile(ctx, f.Path, f.Content, f.Mode, f.Owner, f.Group); err != nil {
				sr.add("provision.file", report.Fail, name, f.Path+": "+err.Error())
				return nil
			}
		}
		changed[f.Path] = fr.Changed
		sr.res.Files = append(sr.res.Files, fr)
		sr.add("provision.file", report.Pass, name, f.Path+": "+msg)
	}

	if pf.ufw == "active" {
		var rules []string
		for _, n := range sr.server.Nodes {
			rules = append(rules, fmt.Sprintf("ufw allow %d/tcp >/dev/null && ufw allow %d/tcp >/dev/null", n.Port, n.Port+10000))
		}
		if err := sr.mutate(ctx, strings.Join(rules, " && ")); err != nil {
			sr.add("provision.firewall", report.Fail, name, err.Error())
		}
	}

	if s.Service == ServiceSystemd {
		if err := sr.systemd(ctx, files, changed); err != nil {
			return err
		}
	}

	var up []int
	for _, n := range sr.server.Nodes {
		if state[n.Port] == portForeign {
			continue
		}
		if sr.node(ctx, n.Port, state[n.Port] == nodeServing, old, changed) {
			up = append(up, n.Port)
		}
	}
	if !sr.opts.DryRun && len(up) > 0 {
		sr.logWarnings(ctx, up)
	}
	return nil
}

// logSep separates the log tails of several nodes in one command's output.
const logSep = "==> slotshift log "

// logWarnings reads the last lines of each node's log (one command for all
// nodes) and reports every warning since the node's latest start.
func (sr *serverRun) logWarnings(ctx context.Context, ports []int) {
	var parts []string
	for _, p := range ports {
		l := LayoutOf(sr.s, p)
		parts = append(parts, fmt.Sprintf("echo '%s%d'; tail -n 200 %s", logSep, p, sshrunner.Quote(l.LogFile)))
	}
	out, err := sr.query(ctx, strings.Join(parts, "; "))
	if err != nil {
		sr.add("provision.log_warning", report.Warn, sr.server.Name, "cannot read the logs: "+err.Error())
		return
	}
	for _, chunk := range strings.Split(out, logSep)[1:] {
		portStr, tail, _ := strings.Cut(chunk, "\n")
		port, _ := strconv.Atoi(portStr)
		for _, w := range LogWarnings([]byte(tail)) {
			sr.add("provision.log_warning", report.Warn, sr.nodeAddr(port), w)
		}
	}
}

type fileMeta struct {
	mode         os.FileMode
	owner, group string
}

// stat returns mode and owner of every existing path in one round trip.
func (sr *serverRun) stat(ctx context.Context, paths []string) (map[string]fileMeta, error) {
	var q []string
	for _, p := range paths {
		q = append(q, sshrunner.Quote(p))
	}
	out, err := sr.query(ctx, `for p in `+strings.Join(q, " ")+`; do [ -e "$p" ] && stat -c '%a %U %G %n' -- "$p"; done; true`)
	if err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	meta := map[string]fileMeta{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(line, " ", 4)
		if len(f) < 4 {
			continue
		}
		mode, _ := strconv.ParseUint(f[0], 8, 32)
		meta[f[3]] = fileMeta{mode: os.FileMode(mode), owner: f[1], group: f[2]}
	}
	return meta, nil
}

func (sr *serverRun) systemd(ctx context.Context, files []File, changed map[string]bool) error {
	reload := false
	var units []string
	thp := false
	for _, f := range files {
		switch f.Kind {
		case KindUnit:
			units = append(units, LayoutOf(sr.s, f.Port).Unit)
		case KindTHPUnit:
			thp = true
		default:
			continue
		}
		reload = reload || changed[f.Path]
	}
	if reload {
		if err := sr.mutate(ctx, "systemctl daemon-reload"); err != nil {
			return err
		}
	}
	if thp {
		if err := sr.mutate(ctx, "systemctl is-enabled --quiet "+THPUnitName+" || systemctl enable --now "+THPUnitName); err != nil {
			sr.add("provision.kernel", report.Warn, sr.server.Name, err.Error())
		}
	}
	for _, u := range units {
		if err := sr.mutate(ctx, "systemctl is-enabled --quiet "+u+" || systemctl enable "+u); err != nil {
			return err
		}
	}
	return nil
}

// restartOnly are directives Redis cannot (or must not) change live: a
// running node keeps the old value until it restarts.
var restartOnly = map[string]bool{
	"port": true, "cluster-enabled": true, "cluster-config-file": true, "dir": true,
	"pidfile": true, "logfile": true, "daemonize": true, "supervised": true, "databases": true,
}

func (sr *serverRun) startCmd(l NodeLayout) string {
	if sr.s.Service == ServiceSystemd {
		return "systemctl start " + l.Unit
	}
	cmd := "cd / && redis-server " + sshrunner.Quote(l.Conf) + " --daemonize yes"
	if sr.s.User != "root" {
		cmd = "cd / && runuser -u " + sshrunner.Quote(sr.s.User) + " -- redis-server " + sshrunner.Quote(l.Conf) + " --daemonize yes"
	}
	return cmd
}

// node starts, live-updates or restarts one node and waits for its PING;
// it reports whether the node is up.
func (sr *serverRun) node(ctx context.Context, port int, serving bool, old map[string][]byte, changed map[string]bool) bool {
	l := LayoutOf(sr.s, port)
	addr := sr.nodeAddr(port)
	if serving {
		if !changed[l.Conf] {
			sr.add("provision.start", report.Pass, addr, "running; configuration unchanged")
		} else {
			restart := sr.applyLive(ctx, port, old[l.Conf])
			if len(restart) == 0 {
				sr.add("provision.start", report.Pass, addr, "running; changes applied live with CONFIG SET")
			} else {
				if !sr.opts.AllowRestart {
					sr.res.Restarts = append(sr.res.Restarts, addr+": "+strings.Join(restart, ", "))
					c := sr.add("provision.restart_needed", report.Warn, addr,
						"restart needed to apply: "+strings.Join(restart, ", "))
					c.Hint = "re-run with --allow-restart, or restart the node during a maintenance window"
				} else if err := sr.restart(ctx, l); err != nil {
					sr.add("provision.start", report.Fail, addr, "restart: "+err.Error())
					return false
				} else {
					sr.add("provision.start", report.Pass, addr, "restarted to apply: "+strings.Join(restart, ", "))
				}
			}
		}
	} else {
		if err := sr.mutate(ctx, sr.startCmd(l)); err != nil {
			sr.add("provision.start", report.Fail, addr, err.Error())
			return false
		}
		if sr.opts.DryRun {
			sr.add("provision.start", report.Skip, addr, "would start")
			return false
		}
		sr.add("provision.start", report.Pass, addr, "started")
	}
	if sr.opts.DryRun {
		return false
	}
	start := time.Now()
	if err := sr.waitPing(ctx, port); err != nil {
		c := sr.add("provision.ping", report.Fail, addr, err.Error())
		c.Hint = "see " + l.LogFile
		// Still up for the log check: the log says why it is not serving.
	} else {
		c := sr.add("provision.ping", report.Pass, addr, "PONG with auth")
		c.Duration = report.SecondsOf(time.Since(start))
	}
	return true
}

// applyLive applies changed directives with CONFIG SET. The conf file on
// disk already holds the new values, so CONFIG REWRITE is not needed (and
// would rewrite the managed file, breaking the idempotent comparison). It
// returns the directives that need a restart.
func (sr *serverRun) applyLive(ctx context.Context, port int, oldConf []byte) []string {
	l := LayoutOf(sr.s, port)
	newConf := map[string]string{}
	for _, f := range mustRender(sr) {
		if f.Path == l.Conf {
			newConf = redisconf.Parse(f.Content)
		}
	}
	prev := redisconf.Parse(oldConf)
	var keys []string
	for k, v := range newConf {
		if prev[k] != v {
			keys = append(keys, k)
		}
	}
	var restart []string
	for k := range prev {
		if _, ok := newConf[k]; !ok {
			restart = append(restart, k+" (removed)")
		}
	}
	sort.Strings(keys)
	if sr.opts.DryRun {
		for _, k := range keys {
			if restartOnly[k] {
				restart = append(restart, k)
			} else {
				sr.res.Commands = append(sr.res.Commands, fmt.Sprintf("CONFIG SET %s on %s", k, sr.nodeAddr(port)))
			}
		}
		sort.Strings(restart)
		return restart
	}
	c := sr.client(port)
	defer c.Close()
	for _, k := range keys {
		if restartOnly[k] {
			restart = append(restart, k)
			continue
		}
		sr.res.Commands = append(sr.res.Commands, fmt.Sprintf("CONFIG SET %s on %s", k, sr.nodeAddr(port)))
		if err := c.ConfigSet(ctx, k, newConf[k]).Err(); err != nil {
			sr.log.Info("live change refused", "node", sr.nodeAddr(port), "directive", k, "err", sr.scrub.String(err.Error()))
			restart = append(restart, k)
		}
	}
	sort.Strings(restart)
	return restart
}

func mustRender(sr *serverRun) []File {
	files, _ := RenderWith(sr.inv, sr.server, sr.opts.Password, sr.s)
	return files
}

func (sr *serverRun) restart(ctx context.Context, l NodeLayout) error {
	if sr.s.Service == ServiceSystemd {
		return sr.mutate(ctx, "systemctl restart "+l.Unit)
	}
	if err := sr.mutate(ctx, "kill -TERM \"$(cat "+sshrunner.Quote(l.PidFile)+")\""); err != nil {
		return err
	}
	if sr.opts.DryRun {
		sr.res.Commands = append(sr.res.Commands, sr.startCmd(l))
		return nil
	}
	deadline := time.Now().Add(sr.opts.StartTimeout)
	for {
		if st, _ := sr.probe(ctx, l.Port); st == portFree {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not stop within %s", sr.nodeAddr(l.Port), sr.opts.StartTimeout)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return sr.mutate(ctx, sr.startCmd(l))
}

func (sr *serverRun) waitPing(ctx context.Context, port int) error {
	deadline := time.Now().Add(sr.opts.StartTimeout)
	for {
		st, err := sr.probe(ctx, port)
		if st == nodeServing {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG from %s within %s: %v", sr.nodeAddr(port), sr.opts.StartTimeout, err)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
