package sandboxtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/tlsconf"
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

// TestTLSServerNameAndSkipVerify: server_name replaces the dialled
// address in verification, and only insecure_skip_verify accepts a node
// whose certificate the CA did not sign.
func TestTLSServerNameAndSkipVerify(t *testing.T) {
	t.Parallel()
	c := Start(t, 1, Options{TLS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	other := TLSMaterial(t)
	wrongCA := tlsconf.Material{CA: other.CA, Cert: c.TLS.Cert, Key: c.TLS.Key}
	for _, tc := range []struct {
		name string
		m    tlsconf.Material
		s    tlsconf.Settings
		ok   bool
	}{
		{"the address", c.TLS, tlsconf.Settings{}, true},
		{"server_name in the certificate", c.TLS, tlsconf.Settings{ServerName: "localhost"}, true},
		{"server_name not in the certificate", c.TLS, tlsconf.Settings{ServerName: "redis.example"}, false},
		{"wrong CA", wrongCA, tlsconf.Settings{}, false},
		{"wrong CA, verification skipped by name", wrongCA, tlsconf.Settings{InsecureSkipVerify: true}, true},
	} {
		cfg, err := tlsconf.Config(tc.m, tc.s)
		if err != nil {
			t.Fatal(err)
		}
		cl := admin.NewClient(c.Nodes[0].Addr, admin.Options{Password: c.Password, TLS: cfg, DialTimeout: time.Second})
		err = cl.Ping(ctx).Err()
		_ = cl.Close()
		if (err == nil) != tc.ok {
			t.Errorf("%s: PING err = %v, want success %v", tc.name, err, tc.ok)
		}
	}
}
