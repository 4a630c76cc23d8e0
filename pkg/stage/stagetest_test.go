package stage

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/check/checktest"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// crossYAML renders the inventory of the cluster sandboxtest.Form builds
// from ports with len(ports)/2 masters; extra is appended verbatim.
func crossYAML(ports []int, extra string) string {
	return sandboxtest.CrossInventory(ports, len(ports)/2, sandboxtest.InventoryOptions{Extra: extra})
}

// ports returns the harness cluster's ports in node order.
func ports(c *sandboxtest.Cluster) []int { return c.Ports() }

// harnessEnv is an Env for a harness cluster and an inventory.
func harnessEnv(t testing.TB, inv *inventory.Inventory, password string) Env {
	return Env{
		Inventory: inv,
		Secrets:   Secrets{Password: password},
		Log:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startCross starts and forms a 3+3 harness cluster and returns it with its
// inventory.
func startCross(t testing.TB) (*sandboxtest.Cluster, *inventory.Inventory) {
	t.Helper()
	c := sandboxtest.Start(t, 6, sandboxtest.Options{NodeTimeoutMS: 1000})
	c.Form(t, 3)
	return c, parseInv(t, crossYAML(ports(c), ""))
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The check assertions are pkg/check/checktest's and pkg/check's; these
// names keep the stage tests short.
var (
	parseInv = checktest.ParseInv
	find     = checktest.Find
	want     = checktest.Want
	failures = check.Failed
)
