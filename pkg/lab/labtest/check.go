package labtest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// redisCLI runs this machine's redis-cli with the lab password in
// REDISCLI_AUTH (never argv).
func redisCLI(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "redis-cli", args...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+Password)
	return cmd.CombinedOutput()
}

// ClusterCheck runs `redis-cli --cluster check addr` and fails t unless it
// exits 0, covers all 16384 slots, and reports neither an error nor a
// warning (an open slot is a warning). It returns the output.
func ClusterCheck(t testing.TB, addr string) string {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		unable(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := redisCLI(ctx, "--cluster", "check", addr)
	text := string(out)
	switch {
	case err != nil:
		t.Errorf("redis-cli --cluster check %s: %v\n%s", addr, err, text)
	case !strings.Contains(text, "[OK] All 16384 slots covered."):
		t.Errorf("redis-cli --cluster check %s: slots not covered:\n%s", addr, text)
	case strings.Contains(text, "[ERR]") || strings.Contains(text, "[WARNING]"):
		t.Errorf("redis-cli --cluster check %s is not clean:\n%s", addr, text)
	}
	return text
}

// OpenSlots lists the open-slot markers ("[slot->-id]", "[slot-<-id]")
// each node of addrs reports on its own CLUSTER NODES line, as
// "addr marker". It reads redis-cli's raw text, not slotshift's parser.
func OpenSlots(t testing.TB, addrs []string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var open []string
	for _, addr := range addrs {
		host, port, _ := strings.Cut(addr, ":")
		out, err := redisCLI(ctx, "-h", host, "-p", port, "--no-auth-warning", "cluster", "nodes")
		if err != nil {
			t.Fatalf("CLUSTER NODES on %s: %v: %s", addr, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.Contains(line, "myself") {
				continue
			}
			for _, f := range strings.Fields(line) {
				if strings.HasPrefix(f, "[") {
					open = append(open, addr+" "+f)
				}
			}
		}
	}
	return open
}

// CountKeys counts the keys matching pattern on each of addrs (masters:
// a replica would count its master's keys twice) with redis-cli --scan.
func CountKeys(t testing.TB, addrs []string, pattern string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := 0
	for _, addr := range addrs {
		host, port, _ := strings.Cut(addr, ":")
		out, err := redisCLI(ctx, "-h", host, "-p", port, "--scan", "--pattern", pattern)
		if err != nil {
			t.Fatalf("redis-cli --scan on %s: %v: %s", addr, err, out)
		}
		n += len(strings.Fields(string(out)))
	}
	return n
}
