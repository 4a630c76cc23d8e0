package sshrunner_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/provision/sshdtest"
	"github.com/slotshift/slotshift/pkg/provision/sshrunner"
)

func dial(t *testing.T, s *sshdtest.Server, mut func(*sshrunner.Config)) (*sshrunner.Client, error) {
	cfg := sshrunner.Config{Name: "server1", Addr: s.Addr, User: "root", Key: s.ClientKey,
		KnownHosts: s.KnownHosts, CommandTimeout: 5 * time.Second}
	if mut != nil {
		mut(&cfg)
	}
	c, err := sshrunner.Dial(context.Background(), cfg)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

func TestClient(t *testing.T) {
	s := sshdtest.Start(t)
	c, err := dial(t, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	out, _, err := c.Run(ctx, "read -r x; echo \"got $x\"", strings.NewReader("stdin-value\n"))
	if err != nil || string(out) != "got stdin-value\n" {
		t.Errorf("Run with stdin: %q %v", out, err)
	}
	_, _, err = c.Run(ctx, "echo oops >&2; exit 3", nil)
	if sshrunner.ExitStatus(err) != 3 || !strings.Contains(err.Error(), "oops") {
		t.Errorf("exit status error: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := c.Run(short, "sleep 5", nil); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Errorf("command timeout: %v after %s", err, time.Since(start))
	}

	dir := t.TempDir()
	p := filepath.Join(dir, "f.conf")
	if _, err := c.ReadFile(ctx, p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: want ErrNotExist, got %v", err)
	}
	if err := c.WriteFile(ctx, p, []byte("one\n"), 0o640, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFile(ctx, p, []byte("two\n"), 0o600, "root", "root"); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadFile(ctx, p)
	if err != nil || string(got) != "two\n" {
		t.Errorf("ReadFile: %q %v", got, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %o", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temp files left behind: %v", ents)
	}
	if err := c.WriteFile(ctx, p, []byte("x"), 0o600, "no-such-user-slotshift", "root"); err == nil {
		t.Error("unknown owner accepted")
	}
	if fp, tofu := c.HostKey(); fp != s.Fingerprint || tofu {
		t.Errorf("HostKey = %s %v", fp, tofu)
	}
}

func TestHostKeyChecks(t *testing.T) {
	s := sshdtest.Start(t)
	other, _ := sshdtest.NewKey(t)

	_, err := dial(t, s, func(c *sshrunner.Config) { c.KnownHosts = sshdtest.KnownHostsLine(s.Addr, other) })
	var hk *sshrunner.HostKeyError
	if !errors.Is(err, sshrunner.ErrHostKeyMismatch) || !errors.As(err, &hk) || hk.Fingerprint != s.Fingerprint ||
		!strings.Contains(err.Error(), "server1") {
		t.Errorf("mismatch: %v", err)
	}
	_, err = dial(t, s, func(c *sshrunner.Config) { c.KnownHosts = sshdtest.KnownHostsLine("10.0.0.1:22", other) })
	if !errors.Is(err, sshrunner.ErrUnknownHost) || !strings.Contains(err.Error(), s.Fingerprint) {
		t.Errorf("unknown: %v", err)
	}
	c, err := dial(t, s, func(c *sshrunner.Config) {
		c.KnownHosts = sshdtest.KnownHostsLine("10.0.0.1:22", other)
		c.TrustOnFirstUse = true
	})
	if err != nil {
		t.Fatalf("tofu: %v", err)
	}
	if fp, tofu := c.HostKey(); fp != s.Fingerprint || !tofu {
		t.Errorf("tofu HostKey = %s %v", fp, tofu)
	}
	_, err = dial(t, s, func(c *sshrunner.Config) { c.KnownHosts = "" })
	if err == nil || !strings.Contains(err.Error(), "known_hosts") {
		t.Errorf("no known_hosts: %v", err)
	}
	_, err = dial(t, s, func(c *sshrunner.Config) { c.Key = "not a key" })
	if err == nil || strings.Contains(err.Error(), "not a key") {
		t.Errorf("bad key: %v", err)
	}
}
