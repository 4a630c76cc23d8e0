// Package metricstest helps tests of Prometheus metrics: it finds the real
// Prometheus tools, runs a Pushgateway on a free loopback port, and reads
// single values back out of the text exposition format.
package metricstest

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/sandbox"
)

// NeedBin returns a binary's path. Without it the test is skipped on a
// developer's machine (scripts/install-deps.sh installs the Debian package
// pkg) and fails in CI, where a skip would hide that nothing was checked.
func NeedBin(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found in CI (scripts/install-deps.sh installs the %s package): %v", name, pkg, err)
		}
		t.Skipf("skipping: %s not found (install the %s package, or run scripts/install-deps.sh): %v", name, pkg, err)
	}
	return path
}

// StartPushgateway runs the real prometheus-pushgateway on a free loopback
// port, with persistence off, waits until it is ready and stops it when
// the test ends. It returns its base URL.
func StartPushgateway(t testing.TB) string {
	t.Helper()
	bin := NeedBin(t, "prometheus-pushgateway", "prometheus-pushgateway")
	port, err := sandbox.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--persistence.file=", "--log.level=warn")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	base := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pushgateway on %s not ready: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Scrape returns the body of a GET of url.
func Scrape(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

// Value returns the value of the sample written exactly as series (name
// and labels as they appear, e.g. `x_total{cluster="c"}`) in text, and
// whether there is one.
func Value(text, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), series+" ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, false
		}
		v, err := strconv.ParseFloat(f[0], 64)
		return v, err == nil
	}
	return 0, false
}
