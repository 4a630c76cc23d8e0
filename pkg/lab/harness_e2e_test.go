//go:build e2e

package lab_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/slotshift/slotshift/pkg/lab"
	"github.com/slotshift/slotshift/pkg/lab/labtest"
)

func TestMain(m *testing.M) { os.Exit(labtest.Main(m)) }

// dialSSH logs in to addr as root with the lab's key, checking the host
// key against knownHosts.
func dialSSH(t *testing.T, l *lab.Lab, addr, knownHosts string) (*ssh.Client, error) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "known_hosts")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(knownHosts); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cb, err := knownhosts.New(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey([]byte(l.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	return ssh.Dial("tcp", net.JoinHostPort(addr, "22"), &ssh.ClientConfig{
		User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: cb, Timeout: 5 * time.Second,
	})
}

func reachable(addr string) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "22"), time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// TestHarness boots two hosts and checks what the scenarios rely on: SSH
// with each host's own key (and no other), exec inside, a unit stopped and
// started, a link cut and restored, shaping, and a teardown that leaves
// nothing behind.
func TestHarness(t *testing.T) {
	l := labtest.Start(t, 2)
	ctx := context.Background()
	h1, h2 := l.Hosts[0], l.Hosts[1]

	c, err := dialSSH(t, l, h1.Addr, l.KnownHosts)
	if err != nil {
		t.Fatalf("ssh %s: %v", h1.Addr, err)
	}
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.CombinedOutput("hostname")
	c.Close()
	if err != nil || strings.TrimSpace(string(out)) != h1.Machine {
		t.Errorf("ssh hostname on %s = %q, %v; want %s", h1.Addr, out, err, h1.Machine)
	}
	// known_hosts holds server2's key for server2's address only: a host
	// presenting another host's key must be refused.
	wrong := strings.Replace(strings.Split(l.KnownHosts, "\n")[1], h2.Addr, h1.Addr, 1)
	if _, err := dialSSH(t, l, h1.Addr, wrong+"\n"); err == nil {
		t.Errorf("ssh %s accepted with server2's host key", h1.Addr)
	}

	out, err = h2.Exec(ctx, "hostname")
	if err != nil || strings.TrimSpace(string(out)) != h2.Machine {
		t.Errorf("exec hostname on %s = %q, %v", h2.Name, out, err)
	}
	if err := h2.StopUnit(ctx, "redis-server"); err != nil {
		t.Fatal(err)
	}
	if out, _ := h2.Exec(ctx, "systemctl", "is-active", "redis-server"); strings.TrimSpace(string(out)) != "inactive" {
		t.Errorf("redis-server after StopUnit: %q", out)
	}
	if err := h2.StartUnit(ctx, "redis-server"); err != nil {
		t.Fatal(err)
	}
	pid, err := h2.MainPID(ctx, "redis-server")
	if err != nil {
		t.Fatal(err)
	}
	if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); strings.TrimSpace(string(comm)) != "redis-server" {
		t.Errorf("MainPID(redis-server) = %d, which is %q", pid, comm)
	}

	if err := h1.LinkDown(ctx); err != nil {
		t.Fatal(err)
	}
	if reachable(h1.Addr) {
		t.Errorf("%s reachable with its link down", h1.Addr)
	}
	if err := h1.LinkUp(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !reachable(h1.Addr) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !reachable(h1.Addr) {
		t.Errorf("%s unreachable after LinkUp", h1.Addr)
	}

	if err := h1.Shape(ctx, "tbf rate 20mbit burst 32kbit latency 200ms"); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("tc", "qdisc", "show", "dev", h1.Link).CombinedOutput(); !strings.Contains(string(out), "tbf") {
		t.Errorf("no tbf on %s: %s", h1.Link, out)
	}
	if err := h1.Unshape(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h1.Unshape(ctx); err != nil {
		t.Errorf("a second Unshape: %v", err)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.Dir); !os.IsNotExist(err) {
		t.Errorf("lab state %s left behind: %v", l.Dir, err)
	}
	for _, link := range []string{l.Bridge, h1.Link, h2.Link} {
		if err := exec.Command("ip", "link", "show", link).Run(); err == nil {
			t.Errorf("link %s left behind", link)
		}
	}
	if syscallAlive(h1.Leader()) || syscallAlive(h2.Leader()) {
		t.Errorf("containers still running after Close")
	}
}

func syscallAlive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return pid > 0 && err == nil
}

// crashChild, set in a child test process, makes TestSweepAfterCrash boot
// a lab, print its directory and wait to be killed.
const crashChild = "SLOTSHIFT_LAB_CRASH_CHILD"

// TestSweepAfterCrash kills a test process with its lab up, so that no
// cleanup runs; the next sweep (every Start runs one) must remove the
// lab: containers, links, bridge and state.
func TestSweepAfterCrash(t *testing.T) {
	if os.Getenv(crashChild) == "1" {
		l, err := lab.Start(context.Background(), lab.Config{Hosts: 1})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("LAB %s\n", l.Dir)
		select {}
	}
	labtest.Require(t)
	child := exec.Command(os.Args[0], "-test.run=^TestSweepAfterCrash$")
	child.Env = append(os.Environ(), crashChild+"=1")
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	var dir string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "LAB "); ok {
			dir = d
			break
		}
	}
	if dir == "" {
		t.Fatal("the child process did not start a lab")
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	id := strings.TrimPrefix(filepath.Base(dir), "lab")
	bridge, link := "slotlab"+id, "vb-lab"+id+"-server1"
	if err := exec.Command("ip", "link", "show", link).Run(); err != nil {
		t.Fatalf("the killed test's host is gone before the sweep (%v): the test proves nothing", err)
	}
	swept, err := lab.Sweep(filepath.Dir(dir), false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(swept, dir) {
		t.Errorf("swept %v, not the killed test's %s", swept, dir)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", dir, err)
	}
	for _, l := range []string{bridge, link} {
		if exec.Command("ip", "link", "show", l).Run() == nil {
			t.Errorf("link %s left behind", l)
		}
	}
}
