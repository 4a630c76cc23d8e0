package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/logkey"
	"github.com/slotshift/slotshift/pkg/redisconf"
	"github.com/slotshift/slotshift/pkg/report"
)

// nodeState is what answers on a node's port before provision touches it.
type nodeState int

const (
	portFree    nodeState = iota // nothing listens (or it is unreachable)
	nodeServing                  // our Redis: PONG with our password
	portForeign                  // something else, or Redis with another password
)

// Timeouts of the probes and CONFIG SETs provision sends a node.
const (
	nodeDialTimeout = 2 * time.Second
	nodeIOTimeout   = 3 * time.Second
	// pollInterval spaces the probes while a node starts or stops.
	pollInterval = 100 * time.Millisecond
)

// admin returns a one-connection admin pool for the nodes of this server;
// the caller closes it.
func (sr *serverRun) admin() *admin.Pool {
	return admin.NewPool(admin.Options{
		Password:    sr.opts.Password,
		TLS:         sr.opts.TLS,
		DialTimeout: nodeDialTimeout, ReadTimeout: nodeIOTimeout, WriteTimeout: nodeIOTimeout,
		PoolSize: 1,
	})
}

func (sr *serverRun) probe(ctx context.Context, port int) (nodeState, error) {
	// A plain dial first: a closed port is the common case while a node
	// starts, and go-redis would log every refused dial.
	d := net.Dialer{Timeout: nodeDialTimeout}
	nc, err := d.DialContext(ctx, "tcp", sr.nodeAddr(port))
	if err != nil {
		return portFree, err
	}
	_ = nc.Close()
	p := sr.admin()
	defer p.Close()
	err = p.Ping(ctx, sr.nodeAddr(port))
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

// restartOnly are directives Redis cannot (or must not) change live: a
// running node keeps the old value until it restarts.
var restartOnly = map[string]bool{
	"port": true, "cluster-enabled": true, "cluster-config-file": true, "dir": true,
	"pidfile": true, "logfile": true, "daemonize": true, "supervised": true, "databases": true,
	"user": true, "tls-port": true, "tls-cluster": true, "tls-replication": true,
}

func (sr *serverRun) startCmd(l NodeLayout) string {
	return startCmd(sr.s.Service, sr.s.User, sr.bin, l)
}

// node starts, live-updates or restarts one node and waits for its PING;
// it reports whether the node is up.
func (sr *serverRun) node(ctx context.Context, port int, serving bool, w *written) bool {
	l := LayoutOf(sr.s, port)
	ok := false
	if serving {
		ok = sr.update(ctx, l, w)
	} else {
		ok = sr.start(ctx, l)
	}
	if !ok || sr.opts.DryRun {
		return false
	}
	sr.ping(ctx, l)
	// Up even when it does not answer: its log says why.
	return true
}

// start starts a node that is not running; false when it could not (or,
// on a dry run, would).
func (sr *serverRun) start(ctx context.Context, l NodeLayout) bool {
	addr := sr.nodeAddr(l.Port)
	if err := sr.mutate(ctx, sr.startCmd(l)); err != nil {
		sr.add("provision.start", report.Fail, addr, err.Error())
		return false
	}
	if sr.opts.DryRun {
		sr.add("provision.start", report.Skip, addr, "would start")
		return false
	}
	sr.add("provision.start", report.Pass, addr, "started")
	return true
}

// update brings a running node to its new configuration: live with CONFIG
// SET where it can, by a restart (when allowed) where it cannot. False
// when the node is down after a failed restart.
func (sr *serverRun) update(ctx context.Context, l NodeLayout, w *written) bool {
	addr := sr.nodeAddr(l.Port)
	if !w.changed[l.Conf] {
		sr.add("provision.start", report.Pass, addr, "running; configuration unchanged")
		return true
	}
	conf, err := w.content(l.Conf)
	if err != nil {
		sr.add("provision.start", report.Fail, addr, err.Error())
		return false
	}
	restart := sr.applyLive(ctx, l.Port, w.old[l.Conf], conf)
	switch {
	case len(restart) == 0:
		sr.add("provision.start", report.Pass, addr, "running; changes applied live with CONFIG SET")
	case !sr.opts.AllowRestart:
		sr.res.Restarts = append(sr.res.Restarts, addr+": "+strings.Join(restart, ", "))
		c := sr.add("provision.restart_needed", report.Warn, addr,
			"restart needed to apply: "+strings.Join(restart, ", "))
		c.Hint = "re-run with --allow-restart, or restart the node during a maintenance window"
	default:
		if err := sr.restart(ctx, l); err != nil {
			sr.add("provision.start", report.Fail, addr, "restart: "+err.Error())
			return false
		}
		sr.add("provision.start", report.Pass, addr, "restarted to apply: "+strings.Join(restart, ", "))
	}
	return true
}

// ping waits for the node's PONG and reports it.
func (sr *serverRun) ping(ctx context.Context, l NodeLayout) {
	addr := sr.nodeAddr(l.Port)
	start := time.Now()
	if err := sr.waitPing(ctx, l.Port); err != nil {
		c := sr.add("provision.ping", report.Fail, addr, err.Error())
		c.Hint = "see " + l.LogFile
		return
	}
	c := sr.add("provision.ping", report.Pass, addr, "PONG with auth")
	c.Duration = report.SecondsOf(time.Since(start))
}

// applyLive applies the directives that differ between oldConf and newConf
// with CONFIG SET. The conf file on disk already holds the new values, so
// CONFIG REWRITE is not needed (and would rewrite the managed file,
// breaking the idempotent comparison). It returns the directives that need
// a restart.
func (sr *serverRun) applyLive(ctx context.Context, port int, oldConf, newConf []byte) []string {
	next, prev := redisconf.Parse(newConf), redisconf.Parse(oldConf)
	var keys []string
	for k, v := range next {
		if prev[k] != v {
			keys = append(keys, k)
		}
	}
	var restart []string
	for k := range prev {
		if _, ok := next[k]; !ok {
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
	p := sr.admin()
	defer p.Close()
	for _, k := range keys {
		if restartOnly[k] {
			restart = append(restart, k)
			continue
		}
		sr.res.Commands = append(sr.res.Commands, fmt.Sprintf("CONFIG SET %s on %s", k, sr.nodeAddr(port)))
		if err := p.ConfigSet(ctx, sr.nodeAddr(port), k, next[k]); err != nil {
			sr.log.Info("live change refused", logkey.Node, sr.nodeAddr(port), "directive", k, logkey.Error, sr.scrub.String(err.Error()))
			restart = append(restart, k)
		}
	}
	sort.Strings(restart)
	return restart
}

func (sr *serverRun) restart(ctx context.Context, l NodeLayout) error {
	if sr.s.Service == ServiceSystemd {
		return sr.mutate(ctx, restartUnitCmd(l))
	}
	if err := sr.mutate(ctx, termCmd(l)); err != nil {
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
		if err := sleep(ctx, pollInterval); err != nil {
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
		if err := sleep(ctx, pollInterval); err != nil {
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
