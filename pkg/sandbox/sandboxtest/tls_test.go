package sandboxtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
)

// TestTLSClusterFormsReplicatesAndRefusesPlainClients runs a TLS-only
// cluster: the nodes meet over the TLS bus, replicas sync over TLS, keys
// written through a TLS cluster client read back, redis-cli --tls checks
// it, and a plain-TCP client gets no answer.
func TestTLSClusterFormsReplicatesAndRefusesPlainClients(t *testing.T) {
	t.Parallel()
	c := Start(t, 6, Options{TLS: true})
	c.Form(t, 3)
	c.Load(t, 500, 32)
	c.Healthy(t, 500, 32)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := c.Client(0).ConfigGet(ctx, "tls-*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if cfg["tls-cluster"] != "yes" || cfg["tls-replication"] != "yes" || cfg["tls-port"] != strings.Split(c.Nodes[0].Addr, ":")[1] {
		t.Errorf("tls config = %v", cfg)
	}
	info, err := c.Client(3).Info(ctx, "replication").Result()
	if err != nil || !strings.Contains(info, "master_link_status:up") {
		t.Errorf("replica link over TLS: %v %q", err, info)
	}

	plain := admin.NewClient(c.Nodes[0].Addr, admin.Options{Password: c.Password, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Error("a plain TCP client got PONG from a TLS-only node")
	}
}
