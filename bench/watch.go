package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/gate"
)

// watchEnv, when set to a duration, turns this program into slotshift's
// gate monitor alone (mode watch): its arguments are the cluster's
// addresses, the password is in passwordEnv. It probes the cluster for the
// duration as a rebalance's gates do (the same gate.Monitor, with the
// options a rebalance of the benchmark's inventory gives it: the defaults,
// no link probe; PINGs, replication lag, INFO) and moves nothing. It takes
// no decisions: a rebalance also asks the readings for one a few times a
// second, which costs the nodes nothing.
//
// Why: the seed profile's cost to clients is the mover's and the probes'
// together. Under the same client load, watch measures the probes' share on
// its own, so the table can say what watching costs a client and what
// moving does.
const watchEnv = "SLOTSHIFT_BENCH_WATCH"

// watchMain is the watcher's main; it exits 0 after the duration, 1 when
// the cluster cannot be read or a probe never answered.
func watchMain(duration string, addrs []string) int {
	d, err := time.ParseDuration(duration)
	if err != nil {
		fmt.Fprintf(os.Stderr, "watch: %s=%q: %v\n", watchEnv, duration, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pings, err := watch(ctx, addrs, os.Getenv(passwordEnv), d)
	if err != nil {
		fmt.Fprintln(os.Stderr, "watch:", err)
		return 1
	}
	fmt.Printf(watchLine+"\n", pings.total, pings.masters, d.Seconds())
	return 0
}

// watchLine is the watcher's last line of output: PINGs sent, masters,
// seconds. watchRate reads it back.
const watchLine = "watch: %d PINGs to %d masters in %g s"

// watchRate reads the PINGs per master per second from the watcher's
// output.
func watchRate(out string) (float64, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var (
		pings   int64
		masters int
		secs    float64
	)
	if n, _ := fmt.Sscanf(lines[len(lines)-1], watchLine, &pings, &masters, &secs); n != 3 || masters <= 0 || secs <= 0 {
		return 0, fmt.Errorf("the watcher's output does not end with its PING count")
	}
	return float64(pings) / float64(masters) / secs, nil
}

// watchPings counts what the watcher sent.
type watchPings struct {
	total   int64
	masters int
}

// watch runs slotshift's gate monitor on the cluster of addrs for d, as a
// rebalance runs it (gate.MonitorOptions at their defaults), and returns
// the PINGs it sent.
func watch(ctx context.Context, addrs []string, password string, d time.Duration) (watchPings, error) {
	if len(addrs) == 0 {
		return watchPings{}, errors.New("no node address given")
	}
	pool := admin.NewPool(admin.Options{Password: password, DialTimeout: time.Second})
	defer pool.Close()
	snap, err := pool.Observe(ctx, addrs)
	if err != nil {
		return watchPings{}, err
	}
	masters, replicas := check.NewLive(snap).Probed()
	if len(masters) == 0 {
		return watchPings{}, errors.New("no master in the cluster's view")
	}
	mon := gate.NewMonitor(pool, masters, replicas, gate.MonitorOptions{})
	mon.Start(ctx)
	defer mon.Close()
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return watchPings{}, ctx.Err()
	}
	var total int64
	for addr, n := range mon.PingsSent() {
		if n == 0 {
			return watchPings{}, fmt.Errorf("master %s was never PINGed", addr)
		}
		total += n
	}
	return watchPings{total: total, masters: len(masters)}, nil
}
