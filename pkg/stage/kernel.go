package stage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/provision"
	"github.com/slotshift/slotshift/pkg/provision/sshrunner"
	"github.com/slotshift/slotshift/pkg/report"
)

// Check ids of the kernel settings online validate reads over SSH.
const (
	IDKernelSettings   = "kernel.settings"
	IDKernelSSH        = "kernel.ssh"
	IDKernelTHP        = "kernel.thp"
	IDKernelOvercommit = "kernel.overcommit"
	IDKernelSomaxconn  = "kernel.somaxconn"
)

// Kernel thresholds. Redis refuses a backlog larger than somaxconn and
// uses 511 (tcp-backlog's default), so below that is a failure; 65535 is
// what provision sets.
const (
	minSomaxconn  = 511
	wantSomaxconn = 65535
)

// kernelCommand prints the three settings, one a line. It reads only
// world-readable files (no sudo needed) and holds no secret. A kernel
// without transparent huge pages prints "unavailable" so that the other
// two lines keep their place.
const kernelCommand = "cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unavailable; " +
	"cat /proc/sys/vm/overcommit_memory; cat /proc/sys/net/core/somaxconn"

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
		return []report.Check{{ID: IDKernelSettings, Status: report.Skip, File: inv.Source,
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
	return KernelVerdicts(srv.Name, string(out))
}

func kernelSSHFail(server string, err error, scrub provision.Scrubber) report.Check {
	c := check(IDKernelSSH, report.Fail, server, "%s: kernel settings not read: %s", server, scrub.String(err.Error()))
	var hk *sshrunner.HostKeyError
	if errors.As(err, &hk) {
		c.Observed = hk.Fingerprint
		c.Hint = "verify the fingerprint out of band, then add the host key to SLOTSHIFT_SSH_KNOWN_HOSTS"
	}
	return c
}

// KernelVerdicts judges the output of the kernel settings command on
// server: kernel.thp passes only for [never] (madvise warns, always
// fails), kernel.overcommit needs 1, kernel.somaxconn fails below 511 and
// warns below 65535. A value that cannot be parsed is an error check. It
// does no I/O.
func KernelVerdicts(server, out string) []report.Check {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	line := func(i int) string {
		if i < len(lines) {
			return strings.TrimSpace(lines[i])
		}
		return ""
	}
	return []report.Check{thpVerdict(server, line(0)), overcommitVerdict(server, line(1)), somaxconnVerdict(server, line(2))}
}

// SelectedTHP returns the selected mode of a transparent_hugepage/enabled
// line ("always madvise [never]" → "never"); a line of one bare word is
// that word, anything else "".
func SelectedTHP(line string) string {
	fields := strings.Fields(line)
	for _, f := range fields {
		if len(f) > 2 && f[0] == '[' && f[len(f)-1] == ']' {
			return f[1 : len(f)-1]
		}
	}
	if len(fields) == 1 && !strings.ContainsAny(fields[0], "[]") {
		return fields[0]
	}
	return ""
}

func thpVerdict(server, line string) report.Check {
	mode := SelectedTHP(line)
	c := check(IDKernelTHP, report.Pass, server, "transparent huge pages: never")
	c.Observed, c.Threshold = mode, "never"
	switch mode {
	case "never":
	case "madvise":
		c.Status = report.Warn
		c.Message = "transparent huge pages: madvise (Redis wants never: a region that opts in stalls forks and copy-on-write)"
	case "always":
		c.Status = report.Fail
		c.Message = "transparent huge pages: always (Redis wants never: latency spikes and memory bloat after fork)"
	case "unavailable":
		c.Status = report.Warn
		c.Message = "transparent huge pages: setting not readable on this kernel"
	default:
		c.Status, c.Observed = report.Error, line
		c.Message = fmt.Sprintf("transparent huge pages: cannot parse %q", line)
	}
	if c.Status == report.Warn || c.Status == report.Fail {
		c.Hint = "run slotshift provision (kernel tuning), or: echo never > /sys/kernel/mm/transparent_hugepage/enabled"
	}
	return c
}

func overcommitVerdict(server, line string) report.Check {
	v, err := strconv.Atoi(line)
	if err != nil {
		c := check(IDKernelOvercommit, report.Error, server, "vm.overcommit_memory: cannot parse %q", line)
		c.Observed = line
		return c
	}
	c := check(IDKernelOvercommit, report.Pass, server, "vm.overcommit_memory = %d", v)
	c.Observed, c.Threshold = v, 1
	if v != 1 {
		c.Status = report.Fail
		c.Message = fmt.Sprintf("vm.overcommit_memory = %d, want 1: a background save or rewrite can fail to fork", v)
		c.Hint = "run slotshift provision (kernel tuning), or: sysctl -w vm.overcommit_memory=1"
	}
	return c
}

func somaxconnVerdict(server, line string) report.Check {
	v, err := strconv.Atoi(line)
	if err != nil {
		c := check(IDKernelSomaxconn, report.Error, server, "net.core.somaxconn: cannot parse %q", line)
		c.Observed = line
		return c
	}
	c := check(IDKernelSomaxconn, report.Pass, server, "net.core.somaxconn = %d", v)
	c.Observed, c.Threshold = v, wantSomaxconn
	switch {
	case v < minSomaxconn:
		c.Status, c.Threshold = report.Fail, minSomaxconn
		c.Message = fmt.Sprintf("net.core.somaxconn = %d, below Redis's tcp-backlog of %d: connection bursts are dropped", v, minSomaxconn)
	case v < wantSomaxconn:
		c.Status = report.Warn
		c.Message = fmt.Sprintf("net.core.somaxconn = %d, below the recommended %d", v, wantSomaxconn)
	}
	if c.Status != report.Pass {
		c.Hint = "run slotshift provision (kernel tuning), or: sysctl -w net.core.somaxconn=65535"
	}
	return c
}
