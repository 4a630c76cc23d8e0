package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

func TestProbeReads(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 6, sandboxtest.Options{})
	c.Form(t, 3)
	c.Load(t, 300, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	p := newPool(t, c.Password)
	master := c.Addrs()[0]

	if err := p.Ping(ctx, master); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	info, err := p.Info(ctx, master, "replication")
	if err != nil || info["role"] != "master" {
		t.Errorf("Info replication: role %q, %v", info["role"], err)
	}
	cfg, err := p.ConfigGet(ctx, master, "cluster-enabled")
	if err != nil || cfg["cluster-enabled"] != "yes" {
		t.Errorf("ConfigGet cluster-enabled = %v, %v", cfg, err)
	}
	v, err := p.Vitals(ctx, master, true)
	if err != nil {
		t.Fatalf("Vitals: %v", err)
	}
	if v.Info["used_cpu_sys"] == "" || v.Info["used_memory"] == "" || v.ClusterInfo["cluster_state"] != "ok" || len(v.Nodes) != 6 {
		t.Errorf("Vitals: cpu %q memory %q state %q, %d nodes", v.Info["used_cpu_sys"], v.Info["used_memory"], v.ClusterInfo["cluster_state"], len(v.Nodes))
	}

	// A full scan visits every key of the master once.
	dbsize, err := p.DBSize(ctx, master)
	if err != nil || dbsize == 0 {
		t.Fatalf("DBSize = %d, %v", dbsize, err)
	}
	seen := map[string]bool{}
	complete, err := p.ScanMemory(ctx, master, admin.ScanOptions{Batch: 16, Budget: time.Minute}, func(key string, bytes int64) {
		if bytes <= 0 {
			t.Errorf("MEMORY USAGE %q = %d", key, bytes)
		}
		seen[key] = true
	})
	if err != nil || !complete || int64(len(seen)) != dbsize {
		t.Errorf("ScanMemory: complete %v, %d keys of %d, %v", complete, len(seen), dbsize, err)
	}
	// A budget already spent stops after the first batch.
	n := 0
	complete, err = p.ScanMemory(ctx, master, admin.ScanOptions{Batch: 4}, func(string, int64) { n++ })
	if err != nil || complete || n == 0 || int64(n) >= dbsize {
		t.Errorf("ScanMemory without budget: complete %v, %d keys of %d, %v", complete, n, dbsize, err)
	}
}

func TestCanaryRoutesToTheOwner(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 3, sandboxtest.Options{})
	c.Form(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	can := admin.NewCanary(c.Addrs()[:1], admin.Options{Password: c.Password})
	t.Cleanup(func() { _ = can.Close() })
	slots := cluster.NewSlotSet(cluster.Range{Start: 16000, End: 16383})
	key, _ := check.CanaryKey(&slots)
	if err := can.WriteRead(ctx, key, time.Minute); err != nil {
		t.Fatalf("WriteRead %q: %v", key, err)
	}
	if n, err := c.Client(2).Exists(ctx, key).Result(); err != nil || n != 0 {
		t.Errorf("canary key left behind on its owner: exists %d, %v", n, err)
	}
	bad := admin.NewCanary(c.Addrs()[:1], admin.Options{Password: "wrong-password-0123456789"})
	t.Cleanup(func() { _ = bad.Close() })
	if err := bad.WriteRead(ctx, key, time.Minute); err == nil || !strings.HasPrefix(err.Error(), "SET: ") {
		t.Errorf("WriteRead with a wrong password: %v, want a SET error", err)
	}
}
