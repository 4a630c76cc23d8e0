package stage

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/provision"
	"github.com/slotshift/slotshift/pkg/provision/sshrunner"
	"github.com/slotshift/slotshift/pkg/report"
)

// kernelCommand prints the three settings, one a line, then the mounts
// under /proc and /sys with their options ("mount /proc/sys ro,relatime"),
// which tell whether the host may change them. It reads only
// world-readable files (no sudo needed) and holds no secret. A kernel
// without transparent huge pages prints "unavailable" so that the other
// two lines keep their place.
const kernelCommand = "cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unavailable; " +
	"cat /proc/sys/vm/overcommit_memory; cat /proc/sys/net/core/somaxconn; " +
	`awk '$5 ~ /^\/(proc|sys)(\/|$)/ {print "mount", $5, $6}' /proc/self/mountinfo 2>/dev/null; true`

const (
	// kernelTimeout bounds one server's connect plus command: validate
	// must not wait on a dead host for SSH's usual minutes.
	kernelTimeout = 5 * time.Second
	// kernelConcurrency bounds the servers read at once.
	kernelConcurrency = 8
)

// CheckKernel reads transparent huge pages, vm.overcommit_memory and
// net.core.somaxconn on every inventory server over SSH (the credentials
// provision uses, host keys verified against known_hosts) and judges them.
// Without an SSH key it returns one skip check. A server that cannot be
// reached or whose host key is refused gets one kernel.ssh fail instead of
// its three checks. The checks come in inventory order.
func CheckKernel(ctx context.Context, env Env) []report.Check {
	inv := env.Inventory
	if inv == nil {
		return nil
	}
	if env.Secrets.SSHKey == "" {
		return []report.Check{{ID: check.IDKernelSettings, Status: report.Skip, File: inv.Source,
			Message: "SSH not configured (SLOTSHIFT_SSH_KEY): kernel settings not checked"}}
	}
	scrub := provision.NewScrubber(env.Secrets.Values()...)
	per := make([][]report.Check, len(inv.Servers))
	var g errgroup.Group
	g.SetLimit(kernelConcurrency)
	for i, srv := range inv.Servers {
		g.Go(func() error {
			per[i] = kernelServer(ctx, env, srv, scrub)
			for j := range per[i] {
				per[i][j].File, per[i][j].Line = inv.Source, srv.Line
			}
			return nil
		})
	}
	_ = g.Wait()
	var out []report.Check
	for _, cs := range per {
		out = append(out, cs...)
	}
	return out
}

// kernelServer connects to one server, runs kernelCommand and judges its
// output.
func kernelServer(ctx context.Context, env Env, srv inventory.Server, scrub provision.Scrubber) []report.Check {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, kernelTimeout)
	defer cancel()
	fail := func(err error) []report.Check {
		c := kernelSSHFail(srv.Name, err, scrub)
		if parent.Err() != nil {
			// The run was cancelled: the check could not run, the
			// server said nothing wrong.
			c.Status = report.Error
		}
		return []report.Check{c}
	}
	user, addr := provision.SSHTarget(env.Inventory, srv)
	c, err := sshrunner.Dial(ctx, sshrunner.Config{
		Name: srv.Name, Addr: addr, User: user,
		Key: env.Secrets.SSHKey, Passphrase: env.Secrets.SSHPassphrase, KnownHosts: env.Secrets.KnownHosts,
		DialTimeout: kernelTimeout, CommandTimeout: kernelTimeout, Log: env.Log,
	})
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	out, _, err := c.Run(ctx, kernelCommand, nil)
	if err != nil {
		return fail(err)
	}
	return check.KernelVerdicts(srv.Name, string(out))
}

func kernelSSHFail(server string, err error, scrub provision.Scrubber) report.Check {
	c := check.New(check.IDKernelSSH, report.Fail, server, "%s: kernel settings not read: %s", server, scrub.String(err.Error()))
	var hk *sshrunner.HostKeyError
	if errors.As(err, &hk) {
		c.Observed = hk.Fingerprint
		c.Hint = "verify the fingerprint out of band, then add the host key to SLOTSHIFT_SSH_KNOWN_HOSTS"
	}
	return c
}
