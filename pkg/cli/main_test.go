package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// binPath is the slotshift binary built once for every test of the package:
// these tests run the real program, as a pipeline would.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "slotshift-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "slotshift")
	build := exec.Command("go", "build", "-o", binPath, "github.com/slotshift/slotshift/cmd/slotshift")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build slotshift:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the module root (testdata lives there).
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// testdataPath returns a path under the repository's testdata.
func testdataPath(t testing.TB, parts ...string) string {
	return filepath.Join(append([]string{repoRoot(t), "testdata"}, parts...)...)
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// baseEnv is a minimal environment: PATH and HOME only, so the host's
// GITHUB_* or SLOTSHIFT_* variables never leak into a test.
func baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
}

// runBin runs slotshift with env (KEY=VALUE) added to baseEnv, in dir.
func runBin(t testing.TB, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run slotshift %s: %v", strings.Join(args, " "), err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func lookPathXMLLint() (string, error) { return exec.LookPath("xmllint") }
