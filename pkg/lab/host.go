package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Host is one booted container: a Debian system running systemd and sshd
// at its own address.
type Host struct {
	Name    string // server1…: the inventory's name
	Machine string // the container's machine name and hostname, labN-serverI
	Addr    string // 198.18.N.(10+I): Redis and SSH listen here
	// Link is the host-side end of the host's veth pair, on the bridge:
	// taking it down cuts the host off; a qdisc on it shapes what the
	// host receives.
	Link string
	// BootTime is how long the host took from nspawn's start until sshd
	// answered and systemd reported the system up.
	BootTime time.Duration

	lab        *Lab
	upper      string
	knownHosts string
	hostKey    keyPair
	client     keyPair
	cmd        *exec.Cmd
	exited     chan struct{}
	leader     int
}

func (l *Lab) newHost(i int, client keyPair) (*Host, error) {
	name := "server" + strconv.Itoa(i)
	machine := fmt.Sprintf("lab%d-%s", l.ID, name)
	hk, err := newKeyPair("root@" + machine)
	if err != nil {
		return nil, err
	}
	h := &Host{
		Name: name, Machine: machine,
		Addr:    fmt.Sprintf("198.18.%d.%d", l.ID, 10+i),
		Link:    "vb-" + machine, // nspawn's name for --network-bridge
		lab:     l,
		upper:   filepath.Join(l.Dir, name),
		hostKey: hk, client: client,
	}
	h.knownHosts = knownHostsLine(h.Addr, hk.public)
	return h, nil
}

// prepare writes the host's own files into its overlay's upper layer,
// before boot: an overlay's layers must not change while it is mounted.
func (h *Host) prepare() error {
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{"etc/ssh/ssh_host_ed25519_key", h.hostKey.private, 0o600},
		{"etc/ssh/ssh_host_ed25519_key.pub", h.hostKey.authorizedKey(), 0o644},
		{"root/.ssh/authorized_keys", h.client.authorizedKey(), 0o600},
	}
	for _, f := range files {
		p := filepath.Join(h.upper, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("lab %s: %w", h.Name, err)
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return fmt.Errorf("lab %s: %w", h.Name, err)
		}
	}
	// The upper layer's directories replace the lower's modes (its top is
	// the container's "/"): keep the usual ones.
	for dir, mode := range map[string]os.FileMode{".": 0o755, "etc": 0o755, "etc/ssh": 0o755, "root": 0o700} {
		if err := os.Chmod(filepath.Join(h.upper, dir), mode); err != nil {
			return fmt.Errorf("lab %s: %w", h.Name, err)
		}
	}
	return nil
}

// boot starts the container, gives it its address and waits until it is
// up.
func (h *Host) boot(ctx context.Context) error {
	start := time.Now()
	if err := h.prepare(); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(h.lab.Dir, h.Name+".console.log"))
	if err != nil {
		return fmt.Errorf("lab %s: %w", h.Name, err)
	}
	defer logf.Close()
	rootfs := h.lab.Rootfs
	h.cmd = exec.Command("systemd-nspawn", "--quiet", "--keep-unit", "--register=no",
		"-D", rootfs, "--overlay="+rootfs+":"+h.upper+":/",
		"-M", h.Machine, "--network-bridge="+h.lab.Bridge, "--console=read-only", "-b")
	// Every host shares the read-only lower layer; nspawn's image lock
	// would let only one of them boot.
	h.cmd.Env = append(os.Environ(), "SYSTEMD_NSPAWN_LOCK=0")
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	// Its own session: a terminal's ^C reaches the test, not the host.
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := h.cmd.Start(); err != nil {
		return fmt.Errorf("lab %s: start systemd-nspawn: %w", h.Name, err)
	}
	h.exited = make(chan struct{})
	go func() { _ = h.cmd.Wait(); close(h.exited) }()
	if err := h.lab.record(hostState{Machine: h.Machine, Link: h.Link, NSpawn: h.cmd.Process.Pid}); err != nil {
		return err
	}
	if err := h.findLeader(ctx); err != nil {
		return err
	}
	if err := h.lab.record(hostState{Machine: h.Machine, Link: h.Link, NSpawn: h.cmd.Process.Pid, Leader: h.leader}); err != nil {
		return err
	}
	if err := h.address(ctx); err != nil {
		return err
	}
	if err := h.waitUp(ctx); err != nil {
		return err
	}
	h.BootTime = time.Since(start)
	return nil
}

// findLeader waits for the container's init: nspawn's child in another pid
// namespace, once it runs systemd.
func (h *Host) findLeader(ctx context.Context) error {
	self, _ := os.Readlink("/proc/self/ns/pid")
	parent := strconv.Itoa(h.cmd.Process.Pid)
	for {
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, s := range stats {
			b, err := os.ReadFile(s)
			if err != nil {
				continue
			}
			i := strings.LastIndexByte(string(b), ')')
			f := strings.Fields(string(b)[i+1:])
			if len(f) < 2 || f[1] != parent {
				continue
			}
			dir := filepath.Dir(s)
			ns, _ := os.Readlink(dir + "/ns/pid")
			comm, _ := os.ReadFile(dir + "/comm")
			if ns != "" && ns != self && strings.TrimSpace(string(comm)) == "systemd" {
				h.leader, _ = strconv.Atoi(filepath.Base(dir))
				return nil
			}
		}
		if err := h.pause(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("lab %s: waiting for the container's init: %w", h.Name, err)
		}
	}
}

// address configures the container's end of the veth pair from outside.
func (h *Host) address(ctx context.Context) error {
	var err error
	for {
		err = h.netns(ctx, "ip", "addr", "add", h.Addr+"/24", "dev", "host0")
		if err == nil {
			break
		}
		if perr := h.pause(ctx, 50*time.Millisecond); perr != nil {
			return fmt.Errorf("lab %s: address: %w (last: %v)", h.Name, perr, err)
		}
	}
	if err := h.netns(ctx, "ip", "link", "set", "host0", "up"); err != nil {
		return fmt.Errorf("lab %s: %w", h.Name, err)
	}
	if err := h.netns(ctx, "ip", "route", "add", "default", "via", h.lab.Gateway); err != nil {
		return fmt.Errorf("lab %s: %w", h.Name, err)
	}
	return nil
}

// waitUp waits until sshd accepts connections and systemd has finished
// booting (running, or degraded: the failed units go to the error log).
func (h *Host) waitUp(ctx context.Context) error {
	addr := net.JoinHostPort(h.Addr, "22")
	var last string
	for {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			_ = c.Close()
			out, _ := h.Exec(ctx, "systemctl", "is-system-running")
			last = strings.TrimSpace(string(out))
			if last == "running" || last == "degraded" {
				return nil
			}
		} else {
			last = err.Error()
		}
		if err := h.pause(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("lab %s: not up (%s): %w%s", h.Name, last, err, h.diagnose())
		}
	}
}

// diagnose returns the pending systemd jobs and the end of the console log
// of a host that did not come up.
func (h *Host) diagnose() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var b strings.Builder
	if h.leader > 0 {
		jobs, _ := h.Exec(ctx, "systemctl", "list-jobs", "--no-pager")
		fmt.Fprintf(&b, "\njobs:\n%s", tail(string(jobs), 1500))
	}
	console, _ := os.ReadFile(filepath.Join(h.lab.Dir, h.Name+".console.log"))
	fmt.Fprintf(&b, "\nconsole:\n%s", tail(string(console), 1500))
	return b.String()
}

// pause sleeps d, or fails when ctx ends or the container exited.
func (h *Host) pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-h.exited:
		return errors.New("systemd-nspawn exited")
	case <-time.After(d):
		return nil
	}
}

// stop kills the container and waits for nspawn to clean up after it.
func (h *Host) stop() {
	if h.cmd == nil || h.cmd.Process == nil {
		return
	}
	if h.leader > 0 {
		_ = syscall.Kill(h.leader, syscall.SIGKILL)
	} else {
		_ = h.cmd.Process.Kill()
	}
	select {
	case <-h.exited:
	case <-time.After(10 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.exited
	}
}

// Leader is the pid, on this machine, of the container's init.
func (h *Host) Leader() int { return h.leader }

// Exec runs a command inside the host (all of its namespaces) and returns
// its combined output; a failure's error includes the output's end.
func (h *Host) Exec(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(h.leader), "-a", "--"}, args...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %s: %w: %s", h.Name, strings.Join(args, " "), err, tail(string(out), 400))
	}
	return out, nil
}

// Shell runs script with sh -c inside the host.
func (h *Host) Shell(ctx context.Context, script string) ([]byte, error) {
	return h.Exec(ctx, "sh", "-c", script)
}

// Systemctl runs systemctl inside the host.
func (h *Host) Systemctl(ctx context.Context, args ...string) error {
	_, err := h.Exec(ctx, append([]string{"systemctl"}, args...)...)
	return err
}

// StopUnit stops a systemd unit on the host, e.g. "redis_7000".
func (h *Host) StopUnit(ctx context.Context, unit string) error {
	return h.Systemctl(ctx, "stop", unit)
}

// StartUnit starts a systemd unit on the host.
func (h *Host) StartUnit(ctx context.Context, unit string) error {
	return h.Systemctl(ctx, "start", unit)
}

// KillUnit sends sig to every process of a unit (systemctl kill), e.g.
// SIGKILL for a crash or SIGSTOP/SIGCONT for a stall.
func (h *Host) KillUnit(ctx context.Context, unit string, sig syscall.Signal) error {
	return h.Systemctl(ctx, "kill", "--signal="+strconv.Itoa(int(sig)), unit)
}

// MainPID returns the pid, on this machine, of a unit's main process
// (e.g. redis_7000's redis-server), so that a test can signal it directly
// and quickly: SIGSTOP/SIGCONT bursts, SIGKILL.
func (h *Host) MainPID(ctx context.Context, unit string) (int, error) {
	out, err := h.Exec(ctx, "systemctl", "show", "--property=MainPID", "--value", unit)
	if err != nil {
		return 0, err
	}
	inner, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || inner == 0 {
		return 0, fmt.Errorf("lab %s: %s has no main process (%q)", h.Name, unit, strings.TrimSpace(string(out)))
	}
	ns, err := os.Readlink("/proc/" + strconv.Itoa(h.leader) + "/ns/pid")
	if err != nil {
		return 0, fmt.Errorf("lab %s: %w", h.Name, err)
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		if l, _ := os.Readlink(dir + "/ns/pid"); l != ns {
			continue
		}
		b, err := os.ReadFile(dir + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			// NSpid: <pid here> … <pid in the container>
			if f := strings.Fields(line); len(f) > 2 && f[0] == "NSpid:" && f[len(f)-1] == strconv.Itoa(inner) {
				return strconv.Atoi(filepath.Base(dir))
			}
		}
	}
	return 0, fmt.Errorf("lab %s: %s's pid %d not found on this machine", h.Name, unit, inner)
}

// LinkDown cuts the host off the bridge (both directions).
func (h *Host) LinkDown(ctx context.Context) error {
	return run(ctx, "ip", "link", "set", h.Link, "down")
}

// LinkUp reconnects the host.
func (h *Host) LinkUp(ctx context.Context) error {
	return run(ctx, "ip", "link", "set", h.Link, "up")
}

// Shape puts the root qdisc qdisc (tc syntax, e.g. "tbf rate 20mbit burst
// 32kbit latency 200ms") on both ends of the host's link, so that what the
// host sends and what it receives both queue. This kernel has no netem.
func (h *Host) Shape(ctx context.Context, qdisc string) error {
	args := append([]string{"qdisc", "replace", "dev", h.Link, "root"}, strings.Fields(qdisc)...)
	if err := run(ctx, "tc", args...); err != nil {
		return fmt.Errorf("lab %s: %w", h.Name, err)
	}
	args[3] = "host0"
	if err := h.netns(ctx, "tc", args...); err != nil {
		return fmt.Errorf("lab %s: %w", h.Name, err)
	}
	return nil
}

// Unshape removes what Shape put on the link.
func (h *Host) Unshape(ctx context.Context) error {
	var errs []error
	if out, err := output(ctx, "tc", "qdisc", "del", "dev", h.Link, "root"); err != nil && !noQdisc(out) {
		errs = append(errs, err)
	}
	if out, err := h.netnsOutput(ctx, "tc", "qdisc", "del", "dev", "host0", "root"); err != nil && !noQdisc(out) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// noQdisc says whether tc's complaint is only that there was nothing to
// delete.
func noQdisc(out []byte) bool {
	s := string(out)
	return strings.Contains(s, "handle of zero") || strings.Contains(s, "No such file")
}

// netns runs a command of this machine in the host's network namespace
// only (the host's own binaries need not exist in the container).
func (h *Host) netns(ctx context.Context, name string, args ...string) error {
	_, err := h.netnsOutput(ctx, name, args...)
	return err
}

func (h *Host) netnsOutput(ctx context.Context, name string, args ...string) ([]byte, error) {
	return output(ctx, "nsenter", append([]string{"-t", strconv.Itoa(h.leader), "-n", "--", name}, args...)...)
}
