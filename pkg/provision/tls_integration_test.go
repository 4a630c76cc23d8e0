package provision_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/acl"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/provision"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
	"github.com/slotshift/slotshift/pkg/tlsconf"
)

// TestProvisionTLSAndACLUserOverSSH provisions two nodes of a TLS cluster
// with an ACL user through a real sshd: the certificates land 0600 beside
// the confs, the nodes serve TLS only, the user exists with the README's
// rule, and a replica syncs over TLS authenticating as that user
// (masteruser). Neither the key nor the password reaches argv, the
// report or the log.
func TestProvisionTLSAndACLUserOverSSH(t *testing.T) {
	e := newEnv(t)
	e.inv.Cluster.TLS = &inventory.TLS{CAEnv: "SLOTSHIFT_TLS_CA", CertEnv: "SLOTSHIFT_TLS_CERT", KeyEnv: "SLOTSHIFT_TLS_KEY", Line: 3}
	m := sandboxtest.TLSMaterial(t)
	cfg, err := tlsconf.Config(m, tlsconf.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	const user = "slotshift"
	opts := e.opts(func(o *provision.Options) { o.Username, o.TLS, o.TLSMaterial = user, cfg, &m })
	sec, checks := e.run(t, opts)
	noFailures(t, checks)
	if n := len(find(checks, "provision.ping")); n != 2 {
		t.Fatalf("ping checks %d, want 2: %+v", n, checks)
	}
	keyLines := tlsconf.SecretLines(m.Key)[1:]
	for _, f := range sec.Servers[0].Files {
		for _, l := range keyLines {
			if strings.Contains(f.Diff, l) {
				t.Errorf("%s diff shows the key", f.Path)
			}
		}
	}
	for _, l := range keyLines {
		if strings.Contains(e.logs.String(), l) {
			t.Error("key in the log")
		}
	}
	tlsDir := filepath.Join(e.inv.Provision.Paths.Config, "tls")
	for name, want := range map[string]string{"ca.crt": m.CA, "redis.crt": m.Cert, "redis.key": m.Key} {
		p := filepath.Join(tlsDir, name)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got, _ := os.ReadFile(p)
		if st.Mode().Perm() != 0o600 || string(got) != want || st.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Errorf("%s: mode %o, content ok %v; want 0600 owned by the redis user (root here)", p, st.Mode().Perm(), string(got) == want)
		}
	}
	if st, err := os.Stat(tlsDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("tls dir: %v %v", st, err)
	}
	if leaks := argvHolding(t, append([]string{testPassword}, keyLines...)); len(leaks) > 0 {
		t.Errorf("a secret in process argv: %d process(es)", len(leaks))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := admin.NewPool(admin.Options{Username: user, Password: testPassword, TLS: cfg, DialTimeout: time.Second})
	defer pool.Close()
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(e.ports[i]) }
	for i := range e.ports {
		got, err := pool.ConfigGet(ctx, addr(i), "*")
		if err != nil {
			t.Fatalf("TLS client as %s on %s: %v", user, addr(i), err)
		}
		if got["port"] != "0" || got["tls-port"] != strconv.Itoa(e.ports[i]) || got["tls-cluster"] != "yes" ||
			got["tls-replication"] != "yes" || got["masteruser"] != user {
			t.Errorf("%s: port %q tls-port %q tls-cluster %q tls-replication %q masteruser %q", addr(i),
				got["port"], got["tls-port"], got["tls-cluster"], got["tls-replication"], got["masteruser"])
		}
	}
	cmds := acl.Commands()
	args := make([][]string, len(cmds))
	for i, c := range cmds {
		args[i] = c.Args
	}
	dry, err := pool.ACLDryRun(ctx, addr(0), user, args)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range dry {
		if d.Denied != "" || d.Err != nil {
			t.Errorf("provisioned user may not run %s: %s %v", cmds[i].Name(), d.Denied, d.Err)
		}
	}
	plain := admin.NewClient(addr(0), admin.Options{Password: testPassword, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer plain.Close()
	if plain.Ping(ctx).Err() == nil {
		t.Error("a provisioned TLS node answers plain TCP")
	}

	// The replica syncs over TLS as the user (masteruser).
	c0, c1 := pool.Client(addr(0)), pool.Client(addr(1))
	if err := c0.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c1.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(e.ports[0])).Err(); err != nil {
		t.Fatal(err)
	}
	id0, err := c0.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(e.inv.Provision.Paths.Log, "redis_"+strconv.Itoa(e.ports[1])+".log"))
			t.Logf("replica log:\n%s", b)
			b, _ = os.ReadFile(filepath.Join(e.inv.Provision.Paths.Log, "redis_"+strconv.Itoa(e.ports[0])+".log"))
			t.Logf("master log:\n%s", b)
		}
	}()
	// REPLICATE fails until the replica has learnt of the master.
	waitFor(ctx, t, "CLUSTER REPLICATE", func() bool { return c1.ClusterReplicate(ctx, id0).Err() == nil })
	waitFor(ctx, t, "replica link up", func() bool {
		info, err := c1.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
}

func waitFor(ctx context.Context, t *testing.T, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
