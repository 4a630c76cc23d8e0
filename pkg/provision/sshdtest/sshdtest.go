// Package sshdtest starts a real OpenSSH sshd on a free loopback port with
// temporary host and client keys, for integration tests of provisioning.
package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHD is the path of the OpenSSH daemon.
const SSHD = "/usr/sbin/sshd"

// Server is a running sshd that accepts ClientKey for root.
type Server struct {
	Addr string // 127.0.0.1:port
	Port int
	// KnownHosts is a known_hosts line for Addr.
	KnownHosts string
	// ClientKey is the PEM private key authorized for root.
	ClientKey string
	// Fingerprint is the SHA256 fingerprint of the host key.
	Fingerprint string
	Dir         string
}

// Options change the server Start gives.
type Options struct {
	// ReadOnly paths are bind-mounted read-only in sshd's own mount
	// namespace, which its sessions inherit: with /proc/sys and /sys a
	// session meets the kernel settings the way a container does, even
	// as root.
	ReadOnly []string
}

// Start starts sshd and stops it when the test ends. It skips the test
// when sshd is missing or the test does not run as root.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with opts.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := os.Stat(SSHD); err != nil {
		t.Skipf("%s not installed: %v", SSHD, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("sshd integration tests run as root (they log in as root)")
	}
	dir := t.TempDir()
	hostPub, hostPEM := NewKey(t)
	clientPub, clientPEM := NewKey(t)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hostKey := write("host_ed25519", hostPEM)
	auth := write("authorized_keys", ssh.MarshalAuthorizedKey(clientPub))
	port := FreePort(t)
	cfg := write("sshd_config", fmt.Appendf(nil, `Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
LogLevel ERROR
`, port, hostKey, filepath.Join(dir, "sshd.pid"), auth))

	// sshd insists on its privilege separation directory /run/sshd; when
	// the host has none, give sshd a private /run in its own mount
	// namespace instead of creating it system-wide.
	var setup []string
	if _, err := os.Stat("/run/sshd"); err != nil {
		setup = append(setup, "mount -t tmpfs tmpfs /run && mkdir -p /run/sshd")
	}
	for _, p := range opts.ReadOnly {
		q := "'" + p + "'"
		setup = append(setup, "mount --bind "+q+" "+q+" && mount -o remount,bind,ro "+q)
	}
	var cmd *exec.Cmd
	if len(setup) == 0 {
		cmd = exec.Command(SSHD, "-D", "-e", "-f", cfg)
	} else {
		cmd = exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
			strings.Join(setup, " && ")+" && exec "+SSHD+" -D -e -f \"$0\"", cfg)
	}
	logf, err := os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = logf.Close()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("sshd exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("sshd not listening on %s: %s", addr, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &Server{
		Addr: addr, Port: port, Dir: dir, ClientKey: string(clientPEM),
		KnownHosts:  KnownHostsLine(addr, hostPub),
		Fingerprint: ssh.FingerprintSHA256(hostPub),
	}
}

// NewKey returns a fresh ed25519 public key and its private key as
// OpenSSH PEM.
func NewKey(t testing.TB) (ssh.PublicKey, []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp, pem.EncodeToMemory(blk)
}

// KnownHostsLine returns the known_hosts line for key at addr.
func KnownHostsLine(addr string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
}

// FreePort returns a loopback TCP port that is free now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
