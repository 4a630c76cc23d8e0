package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
)

// writeRESPFile writes SET commands for keys 0..n-1 (the benchmark's key
// names and value sizes) to path, in the RESP form redis-cli --pipe reads.
func writeRESPFile(path string, n int) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("floor file %s: %w", path, err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	buf := make([]byte, 0, 256)
	for i := range n {
		buf = appendSetRESP(buf[:0], i)
		if _, err := w.Write(buf); err != nil {
			_ = f.Close()
			return fmt.Errorf("floor file %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return fmt.Errorf("floor file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("floor file %s: %w", path, err)
	}
	return nil
}

// pipeSummary matches redis-cli --pipe's last line.
var pipeSummary = regexp.MustCompile(`errors: (\d+), replies: (\d+)`)

// runFloor times loading n keys into one fresh, empty node with
// `redis-cli --pipe`: the cost of merely writing the moved keys into their
// new master, which no migration can beat. The node is cluster-enabled and
// owns every slot (a one-node cluster), so it pays the same per-key slot
// bookkeeping as the rebalance's target.
func runFloor(ctx context.Context, log *slog.Logger, password string, n, nodeTimeoutMS int, respFile string) (float64, error) {
	dir, err := os.MkdirTemp("", "slotshift-bench-floor-")
	if err != nil {
		return 0, fmt.Errorf("floor temp dir: %w", err)
	}
	c := &benchCluster{dir: dir, password: password, log: log}
	defer c.close()
	p, err := startNode(ctx, dir, "floor", password, nodeTimeoutMS)
	if err != nil {
		return 0, err
	}
	c.nodes = append(c.nodes, p)
	c.pool = admin.NewPool(admin.Options{Password: password})
	if err := c.pool.AddSlotsRange(ctx, p.Addr, []cluster.Range{{Start: 0, End: cluster.NumSlots - 1}}); err != nil {
		return 0, err
	}
	// A fresh master stays cluster_state:fail for a moment after it gets
	// its slots; writes before that would be refused.
	if _, err := c.pool.WaitConverged(ctx, []string{p.Addr}, convergeTimeout, 50*time.Millisecond); err != nil {
		return 0, fmt.Errorf("floor node %s: %w", p.Addr, err)
	}

	in, err := os.Open(respFile)
	if err != nil {
		return 0, fmt.Errorf("floor file: %w", err)
	}
	defer in.Close()
	cmd := exec.CommandContext(ctx, "redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "--pipe")
	cmd.Env = childEnv("REDISCLI_AUTH=" + password)
	cmd.Stdin = in
	logPath := filepath.Join(dir, "pipe.log")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start).Seconds()
	_ = os.WriteFile(logPath, out, 0o600)
	if err != nil {
		return 0, fmt.Errorf("redis-cli --pipe into %s: %w: %s", p.Addr, err, strings.TrimSpace(string(out)))
	}
	m := pipeSummary.FindStringSubmatch(string(out))
	if m == nil || m[1] != "0" || m[2] != strconv.Itoa(n) {
		return 0, fmt.Errorf("redis-cli --pipe into %s: want \"errors: 0, replies: %d\", got: %s", p.Addr, n, strings.TrimSpace(string(out)))
	}
	size, err := c.pool.DBSize(ctx, p.Addr)
	if err != nil {
		return 0, err
	}
	if size != int64(n) {
		return 0, fmt.Errorf("floor node %s: DBSIZE %d after --pipe, want %d", p.Addr, size, n)
	}
	return elapsed, nil
}
