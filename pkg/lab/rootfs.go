package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// DefaultPackages is what every lab host has besides Debian's minimal base:
// systemd as PID 1, sshd for slotshift, redis-server (so provision's
// install step finds it: the hosts have no route to a package mirror), and
// the tools provision and the tests call.
var DefaultPackages = []string{
	"systemd", "systemd-sysv", "dbus", "openssh-server", "redis-server",
	"sudo", "iproute2", "procps",
}

// Defaults of Rootfs.
const (
	DefaultSuite  = "bookworm"
	DefaultMirror = "http://deb.debian.org/debian"
)

// rootfsRevision changes whenever customize changes, so that a cached root
// file system made by an older harness is not reused.
const rootfsRevision = "1"

// readyMark marks a finished root file system in the cache.
const readyMark = ".slotshift-lab-ready"

// Rootfs describes the root file system every host boots from. Zero values
// take the documented defaults.
type Rootfs struct {
	// Suite is the Debian release. Default "bookworm".
	Suite string
	// Mirror is the Debian mirror debootstrap downloads from. Default
	// http://deb.debian.org/debian.
	Mirror string
	// Packages are installed on top of the minbase variant. Default
	// DefaultPackages.
	Packages []string
	// CacheDir holds built root file systems, one per key. Default
	// $SLOTSHIFT_LAB_CACHE; else /var/cache/slotshift-lab as root, else
	// the user cache directory's slotshift-lab.
	CacheDir string
}

func (r Rootfs) withDefaults() Rootfs {
	if r.Suite == "" {
		r.Suite = DefaultSuite
	}
	if r.Mirror == "" {
		r.Mirror = DefaultMirror
	}
	if len(r.Packages) == 0 {
		r.Packages = DefaultPackages
	}
	if r.CacheDir == "" {
		r.CacheDir = defaultCacheDir()
	}
	return r
}

func defaultCacheDir() string {
	if d := os.Getenv("SLOTSHIFT_LAB_CACHE"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/cache/slotshift-lab"
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "slotshift-lab")
	}
	return filepath.Join(os.TempDir(), "slotshift-lab-cache")
}

// Key identifies a root file system by what goes into it: the suite, the
// mirror, the sorted package list and the harness' own customisation.
func (r Rootfs) Key() string {
	r = r.withDefaults()
	pkgs := slices.Clone(r.Packages)
	slices.Sort(pkgs)
	sum := sha256.Sum256([]byte(strings.Join([]string{
		r.Suite, r.Mirror, strings.Join(slices.Compact(pkgs), ","), rootfsRevision,
	}, "\n")))
	return r.Suite + "-" + hex.EncodeToString(sum[:])[:12]
}

// Path is where the root file system of r lives in the cache.
func (r Rootfs) Path() string {
	r = r.withDefaults()
	return filepath.Join(r.CacheDir, "rootfs-"+r.Key())
}

// Cached reports whether r is already built.
func (r Rootfs) Cached() bool {
	_, err := os.Stat(filepath.Join(r.Path(), readyMark))
	return err == nil
}

// Build returns the path of r's root file system, building it with
// debootstrap when the cache has none (about 1.5 minutes). Concurrent
// builders of the same key wait for each other through a lock file. built
// says whether this call built it.
func (r Rootfs) Build(ctx context.Context, logf func(string, ...any)) (path string, built bool, err error) {
	r = r.withDefaults()
	path = r.Path()
	if r.Cached() {
		return path, false, nil
	}
	if err := os.MkdirAll(r.CacheDir, 0o755); err != nil {
		return "", false, fmt.Errorf("lab rootfs cache: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", false, fmt.Errorf("lab rootfs lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", false, fmt.Errorf("lab rootfs lock: %w", err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	if r.Cached() { // built by another process while this one waited
		return path, false, nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "", false, fmt.Errorf("lab rootfs %s is not cached and debootstrap is missing (apt-get install debootstrap): %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", false, fmt.Errorf("lab rootfs: %w", err)
	}
	logf("building the lab's root file system %s with debootstrap (once; about 1.5 min)", path)
	start := time.Now()
	args := []string{"--variant=minbase", "--include=" + strings.Join(r.Packages, ","), r.Suite, tmp, r.Mirror}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		_ = os.WriteFile(path+".log", out.Bytes(), 0o644)
		return "", false, fmt.Errorf("debootstrap %s: %w (log %s.log): %s", r.Suite, err, path, tail(out.String(), 600))
	}
	if err := customize(tmp); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(filepath.Join(tmp, readyMark), []byte(r.Key()+"\n"), 0o644); err != nil {
		return "", false, fmt.Errorf("lab rootfs: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", false, fmt.Errorf("lab rootfs: %w", err)
	}
	logf("root file system built in %s", time.Since(start).Round(time.Second))
	return path, true, nil
}

// sshdConfig makes every host serve only the ed25519 host key the lab
// gives it (known_hosts lists exactly that key) and refuse passwords.
const sshdConfig = `# slotshift lab: the host key comes from the lab, passwords never work
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
`

// customize turns a fresh debootstrap tree into a template for hosts: no
// host keys (each host gets its own), no fixed hostname (nspawn sets the
// machine name) and an empty machine-id (each boot gets its own).
func customize(root string) error {
	keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return fmt.Errorf("lab rootfs: %w", err)
		}
	}
	if err := os.Remove(filepath.Join(root, "etc/hostname")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lab rootfs: %w", err)
	}
	writes := map[string]string{
		"etc/ssh/sshd_config.d/slotshift-lab.conf": sshdConfig,
		"etc/machine-id": "",
	}
	for p, content := range writes {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("lab rootfs: %w", err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return fmt.Errorf("lab rootfs: %w", err)
		}
	}
	return nil
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
