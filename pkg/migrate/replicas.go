package migrate

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
)

// replicaLine is one "slaveN:" line of a master's INFO replication.
type replicaLine struct {
	Addr   string
	State  string
	Offset int64
}

// parseReplicaLines reads the replicas and master_repl_offset from a
// master's INFO replication text.
func parseReplicaLines(info string) ([]replicaLine, int64) {
	var out []replicaLine
	var master int64
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if k == "master_repl_offset" {
			master, _ = strconv.ParseInt(v, 10, 64)
			continue
		}
		if !strings.HasPrefix(k, "slave") {
			continue
		}
		if _, err := strconv.Atoi(strings.TrimPrefix(k, "slave")); err != nil {
			continue
		}
		f := map[string]string{}
		for _, kv := range strings.Split(v, ",") {
			a, b, _ := strings.Cut(kv, "=")
			f[a] = b
		}
		off, _ := strconv.ParseInt(f["offset"], 10, 64)
		out = append(out, replicaLine{Addr: net.JoinHostPort(f["ip"], f["port"]), State: f["state"], Offset: off})
	}
	return out, master
}

// CheckReplicas checks that the replicas of masters have everything their
// master had when the check began, and as many keys: atomic migration
// streams the slots to the target's replicas too, and a replica that
// stopped applying that stream (Valkey 9 did, with many single-slot
// ranges) holds fewer keys while its link still looks up. Key counts may
// differ for a moment under writes; they must agree within 0.1% (plus 10)
// at least once within timeout.
func CheckReplicas(ctx context.Context, pool *admin.Pool, masters []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	errs := make([]error, len(masters))
	var wg sync.WaitGroup
	for i, m := range masters {
		wg.Go(func() { errs[i] = checkReplicasOf(ctx, pool, m, deadline) })
	}
	wg.Wait()
	var problems []string
	for _, err := range errs {
		if err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("replicas incomplete after migration: %s", strings.Join(problems, "; "))
	}
	return nil
}

func checkReplicasOf(ctx context.Context, pool *admin.Pool, master string, deadline time.Time) error {
	info, err := pool.Info(ctx, master, "replication")
	if err != nil {
		return fmt.Errorf("%s: %w", master, err)
	}
	want, _ := strconv.ParseInt(info["master_repl_offset"], 10, 64)
	for {
		text, err := pool.Client(master).Info(ctx, "replication").Result()
		if err != nil {
			return fmt.Errorf("%s: %w", master, err)
		}
		reps, _ := parseReplicaLines(text)
		lagging := ""
		for _, r := range reps {
			if r.State != "online" || r.Offset < want {
				lagging = fmt.Sprintf("replica %s of %s is %s at offset %d of %d", r.Addr, master, r.State, r.Offset, want)
				break
			}
		}
		if lagging == "" {
			lagging = sameKeys(ctx, pool, master, reps)
		}
		if lagging == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s", lagging)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// sameKeys compares DBSIZE of master and its replicas; "" when they agree.
func sameKeys(ctx context.Context, pool *admin.Pool, master string, reps []replicaLine) string {
	n, err := pool.Client(master).DBSize(ctx).Result()
	if err != nil {
		return err.Error()
	}
	for _, r := range reps {
		k, err := pool.Client(r.Addr).DBSize(ctx).Result()
		if err != nil {
			return err.Error()
		}
		if d := n - k; d > 10+n/1000 || -d > 10+n/1000 {
			return fmt.Sprintf("replica %s of %s holds %d keys, its master %d", r.Addr, master, k, n)
		}
	}
	return ""
}
