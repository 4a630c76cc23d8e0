// Package labtest is the testing glue of the lab: it boots a lab for a
// test and tears it down when the test ends, builds the slotshift binary
// once, runs it against the lab as a pipeline step would (inventory and
// secrets in the environment, one report directory per step), and checks
// a lab cluster from outside with redis-cli.
package labtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/lab"
)

// Password is the lab clusters' password (SLOTSHIFT_PASSWORD).
const Password = "lab-password-0123456789"

// RequireEnv, set to 1, turns the skips of a machine that cannot run a lab
// into failures: CI sets it, so that an e2e run that did nothing is red.
const RequireEnv = "SLOTSHIFT_E2E_REQUIRE"

// OutEnv names the directory where each test keeps its reports (default:
// a fresh directory under the system's temporary directory, kept and
// logged).
const OutEnv = "SLOTSHIFT_E2E_OUT"

// Require skips t, saying why, when this machine cannot run a lab (or,
// with SLOTSHIFT_E2E_REQUIRE=1, fails it).
func Require(t testing.TB) {
	t.Helper()
	if err := lab.Requirements(); err != nil {
		unable(t, err)
	}
	if _, err := exec.LookPath("debootstrap"); err != nil && !(lab.Rootfs{}).Cached() {
		unable(t, fmt.Errorf("no cached root file system and no debootstrap to build one: %w", err))
	}
}

// Start boots a lab of n hosts for t and tears it down when t ends, pass
// or fail. It skips t, saying why, when this machine cannot run a lab
// (unless SLOTSHIFT_E2E_REQUIRE=1).
func Start(t testing.TB, n int) *lab.Lab {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l, err := lab.Start(ctx, lab.Config{Hosts: n, Log: logWriter{t}})
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("tear down lab %d: %v", l.ID, err)
		}
	})
	t.Logf("lab %d: rootfs %s (built now: %v, %s), %d hosts booted in %s",
		l.ID, l.Rootfs, l.RootfsBuilt, l.RootfsTime.Round(time.Millisecond), len(l.Hosts), l.BootTime.Round(time.Millisecond))
	return l
}

func unable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s=1 but this machine cannot run the lab: %v", RequireEnv, err)
	}
	t.Skipf("skipping: this machine cannot run the lab: %v", err)
}

// logWriter sends the lab's progress lines to t.Log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// Binary builds the slotshift binary once per test process and returns
// its path. Call Main from TestMain to remove it at the end.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "slotshift-lab-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "slotshift")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/slotshift/slotshift/cmd/slotshift")
		cmd.Dir = repoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("build slotshift: %w: %s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// Main runs the package's tests and removes what Binary built.
func Main(m *testing.M) int {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	return code
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// OutDir returns the directory where t keeps its reports:
// $SLOTSHIFT_E2E_OUT/<test name>, else a fresh directory under the system's
// temporary directory. It is kept after the test, and logged.
func OutDir(t testing.TB) string {
	t.Helper()
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	var dir string
	if base := os.Getenv(OutEnv); base != "" {
		dir = filepath.Join(base, name)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		d, err := os.MkdirTemp("", "slotshift-e2e-"+name+"-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	t.Logf("reports of %s: %s", t.Name(), dir)
	return dir
}

// CLI runs the slotshift binary against a lab as pipeline steps would:
// the inventory and every secret in the environment, one report directory
// per step under Out.
type CLI struct {
	Bin string
	// Env is added to PATH and HOME: SLOTSHIFT_INVENTORY, the password and
	// the lab's SSH key and known_hosts.
	Env []string
	// Out holds one report directory per step, NN-name.
	Out string
	// Timeout bounds one step. Default 5 minutes.
	Timeout time.Duration
	// Steps are the runs so far, in order.
	Steps []Step
}

// Step is one run of the binary. Its JSON form (for a test's summary)
// leaves the output out: it is in the step's report directory.
type Step struct {
	Name        string        `json:"name"`
	Args        []string      `json:"args"`
	Code        int           `json:"exit_code"`
	Took        time.Duration `json:"-"`
	TookSeconds float64       `json:"seconds"`
	ReportDir   string        `json:"report_dir"`
	Stdout      string        `json:"-"`
	Stderr      string        `json:"-"`
}

// NewCLI returns a CLI for inventory (YAML text) on l, reports under out.
func NewCLI(t testing.TB, l *lab.Lab, inventory, out string) *CLI {
	t.Helper()
	return &CLI{
		Bin: Binary(t),
		Env: []string{
			"SLOTSHIFT_INVENTORY=" + inventory,
			"SLOTSHIFT_PASSWORD=" + Password,
			"SLOTSHIFT_SSH_KEY=" + l.ClientKey,
			"SLOTSHIFT_SSH_KNOWN_HOSTS=" + l.KnownHosts,
		},
		Out: out,
	}
}

// SetInventory replaces the inventory for the next steps.
func (c *CLI) SetInventory(inventory string) {
	for i, kv := range c.Env {
		if strings.HasPrefix(kv, "SLOTSHIFT_INVENTORY=") {
			c.Env[i] = "SLOTSHIFT_INVENTORY=" + inventory
			return
		}
	}
	c.Env = append(c.Env, "SLOTSHIFT_INVENTORY="+inventory)
}

// Run runs slotshift with args; name labels the step's report directory
// (Out/NN-name), which the run gets as --report-dir. It logs the step's
// exit code and time, and its output when the code is not 0.
func (c *CLI) Run(t testing.TB, name string, args ...string) Step {
	t.Helper()
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	dir := filepath.Join(c.Out, fmt.Sprintf("%02d-%s", len(c.Steps)+1, name))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append(slices.Clone(args), "--report-dir", dir)
	cmd := exec.CommandContext(ctx, c.Bin, full...)
	cmd.Dir = c.Out
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, c.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	s := Step{Name: name, Args: args, Took: took, TookSeconds: took.Seconds(), ReportDir: dir, Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		s.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run slotshift %s: %v", strings.Join(args, " "), err)
	}
	c.Steps = append(c.Steps, s)
	_ = os.WriteFile(filepath.Join(dir, "stdout.txt"), stdout.Bytes(), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "stderr.txt"), stderr.Bytes(), 0o644)
	t.Logf("step %s: slotshift %s → exit %d in %s", name, strings.Join(args, " "), s.Code, s.Took.Round(time.Millisecond))
	if s.Code != 0 {
		t.Logf("step %s stdout:\n%s\nstderr:\n%s", name, tail(s.Stdout, 4000), tail(s.Stderr, 4000))
	}
	return s
}

// Must runs a step that has to exit 0, and fails t at once otherwise.
func (c *CLI) Must(t testing.TB, name string, args ...string) Step {
	t.Helper()
	s := c.Run(t, name, args...)
	if s.Code != 0 {
		t.Fatalf("step %s: slotshift %s exited %d, want 0 (reports in %s)", name, strings.Join(args, " "), s.Code, s.ReportDir)
	}
	return s
}

// Timings renders the steps as "name  code  time" lines.
func (c *CLI) Timings() string {
	var b strings.Builder
	for _, s := range c.Steps {
		fmt.Fprintf(&b, "%-22s exit %-3d %8.3fs  %s\n", filepath.Base(s.ReportDir), s.Code, s.Took.Seconds(), strings.Join(s.Args, " "))
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// KeepLogs saves, when t has failed, each host's journal and Redis log
// files under out/hosts/<name>/ before the lab goes away. Call it after
// Start: cleanups run last-registered first.
func KeepLogs(t testing.TB, l *lab.Lab, out string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, h := range l.Hosts {
			dir := filepath.Join(out, "hosts", h.Name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Log(err)
				return
			}
			journal, _ := h.Exec(ctx, "journalctl", "--no-pager", "-n", "2000")
			redisLogs, _ := h.Shell(ctx, "tail -n 500 /var/log/redis/*.log 2>&1")
			units, _ := h.Exec(ctx, "systemctl", "list-units", "--all", "--no-pager", "redis*", "slotshift*")
			for name, b := range map[string][]byte{"journal.txt": journal, "redis-logs.txt": redisLogs, "units.txt": units} {
				_ = os.WriteFile(filepath.Join(dir, name), b, 0o644)
			}
		}
		t.Logf("the hosts' journals and Redis logs: %s", filepath.Join(out, "hosts"))
	})
}
