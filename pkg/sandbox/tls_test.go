package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/certgen"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/tlsconf"
)

// TestUpTLS: a TLS inventory's sandbox runs TLS-only nodes from the PEM
// material (written 0600 under the state directory), and status reads
// them over TLS.
func TestUpTLS(t *testing.T) {
	needRedis(t)
	ctx := context.Background()
	ca, err := certgen.NewCA("sandbox CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue(certgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := tlsconf.Material{CA: ca.CertPEM, Cert: pair.CertPEM, Key: pair.KeyPEM}
	cfg, err := tlsconf.Config(m, tlsconf.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "sb")
	st, err := Up(ctx, testInventory(t), Options{Dir: dir, Password: testPassword, TLS: &m, TLSClient: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Down(context.Background(), dir) })
	for _, name := range []string{"ca.crt", "redis.crt", "redis.key"} {
		fi, err := os.Stat(filepath.Join(dir, "tls", name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", name, fi, err)
		}
	}
	secure := admin.Options{Password: testPassword, TLS: cfg, DialTimeout: time.Second}
	c := admin.NewClient(st.Nodes[0].Addr, secure)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("TLS PING: %v", err)
	}
	if err := ping(t, st.Nodes[0].Addr, testPassword); err == nil {
		t.Error("a plain client got PONG from a TLS sandbox node")
	}
	nodes, err := StatusWith(ctx, dir, secure)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if !n.Alive || n.Err != "" || n.ClusterState == "" {
			t.Errorf("status over TLS: %+v", n)
		}
	}
	plain, err := Status(ctx, dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if plain[0].Err == "" {
		t.Errorf("plain status of a TLS node reports no error: %+v", plain[0])
	}
}
