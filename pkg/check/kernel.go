package check

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

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

// Files of the kernel settings, for finding the mount each lives on.
const (
	thpPath        = "/sys/kernel/mm/transparent_hugepage/enabled"
	overcommitPath = "/proc/sys/vm/overcommit_memory"
	somaxconnPath  = "/proc/sys/net/core/somaxconn"
)

// KernelVerdicts judges the output of the kernel settings command on
// server: kernel.thp passes only for [never] (madvise warns, always
// fails), kernel.overcommit needs 1, kernel.somaxconn fails below 511 and
// warns below 65535. A value that cannot be parsed is an error check.
//
// Lines after the first three may be "mount POINT OPTIONS" (from
// /proc/self/mountinfo): a setting whose file lies on a read-only mount,
// as /proc/sys and /sys are in a container, cannot be changed on that
// host, so a value off target is a warning that says so ("not settable
// here") with the current value, not a failure. It does no I/O.
func KernelVerdicts(server, out string) []report.Check {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	line := func(i int) string {
		if i < len(lines) {
			return strings.TrimSpace(lines[i])
		}
		return ""
	}
	var mounts []mount
	for _, l := range lines {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "mount" {
			mounts = append(mounts, mount{point: f[1], options: f[2]})
		}
	}
	cs := []report.Check{thpVerdict(server, line(0)), overcommitVerdict(server, line(1)), somaxconnVerdict(server, line(2))}
	for i, p := range []string{thpPath, overcommitPath, somaxconnPath} {
		if c := &cs[i]; (c.Status == report.Fail || c.Status == report.Warn) && c.Observed != "unavailable" && readOnlyAt(mounts, p) {
			notSettable(c, p)
		}
	}
	return cs
}

// notSettable turns the verdict on a setting whose file is read-only on
// its host into a warning that says the host cannot change it.
func notSettable(c *report.Check, path string) {
	c.Status = report.Warn
	c.Message += "; not settable here (" + path + " is read-only: a container runs its machine's kernel)"
	hint := "set it on the machine that runs this host's kernel"
	if fix, ok := strings.CutPrefix(c.Hint, "run slotshift provision (kernel tuning), or: "); ok {
		hint += ": " + fix
	}
	c.Hint = hint
}

// mount is one mount point and its per-mount options ("ro,relatime").
type mount struct{ point, options string }

// readOnlyAt says whether path lies on a read-only mount: the mount whose
// point is path's longest prefix, the last listed of equals (mounted on
// top).
func readOnlyAt(mounts []mount, path string) bool {
	best, ro := -1, false
	for _, m := range mounts {
		inside := m.point == "/" || path == m.point || strings.HasPrefix(path, m.point+"/")
		if !inside || len(m.point) < best {
			continue
		}
		best, ro = len(m.point), slices.Contains(strings.Split(m.options, ","), "ro")
	}
	return ro
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
	c := New(IDKernelTHP, report.Pass, server, "transparent huge pages: never")
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
		c := New(IDKernelOvercommit, report.Error, server, "vm.overcommit_memory: cannot parse %q", line)
		c.Observed = line
		return c
	}
	c := New(IDKernelOvercommit, report.Pass, server, "vm.overcommit_memory = %d", v)
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
		c := New(IDKernelSomaxconn, report.Error, server, "net.core.somaxconn: cannot parse %q", line)
		c.Observed = line
		return c
	}
	c := New(IDKernelSomaxconn, report.Pass, server, "net.core.somaxconn = %d", v)
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
