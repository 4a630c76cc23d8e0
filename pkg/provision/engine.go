package provision

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/logkey"
	"github.com/slotshift/slotshift/pkg/provision/sshrunner"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/tlsconf"
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
	// Username is the ACL user (cluster.user_env) every node gets, with
	// the password and acl.Rule; "" = none.
	Username string
	// TLS is the client configuration the nodes are probed with, and
	// TLSMaterial the PEM installed on them (cluster.tls); nil = plain.
	TLS         *tls.Config
	TLSMaterial *tlsconf.Material
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
			scrub: NewScrubber(append([]string{opts.Password, opts.Key, opts.Passphrase}, tlsKeyLines(opts.TLSMaterial)...)...),
			log:   opts.Log.With(logkey.Server, srv.Name),
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
	// bin is the server executable daemons start when the host has
	// valkey-server instead of redis-server; "" = redis-server.
	bin string
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
	sr.log.Debug("remote command", "cmd", sr.scrub.String(cmd), logkey.Duration, time.Since(start),
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
	if err := sr.provision(ctx); err != nil && !errors.Is(err, errStopped) {
		sr.add("provision.server", report.Error, name, err.Error())
	}
}

// errStopped ends a server's run after a failed check: the check already
// says why, so the run reports no error besides it.
var errStopped = errors.New("stopped by a failed check")
