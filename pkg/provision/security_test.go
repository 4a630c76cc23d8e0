package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/acl"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/tlsconf"
)

const fakeKey = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRET\n-----END PRIVATE KEY-----\n"

func tlsInventory() *inventory.Inventory {
	inv := seedInventory()
	inv.Cluster.TLS = &inventory.TLS{CAEnv: "MY_CA", CertEnv: "MY_CERT", KeyEnv: "MY_KEY"}
	return inv
}

func TestRenderTLSAndACLUser(t *testing.T) {
	inv := tlsInventory()
	s := SettingsFor(inv, System{})
	s.TLS = &tlsconf.Material{CA: "CA PEM\n", Cert: "CERT PEM\n", Key: fakeKey}
	s.ACLUser = "slotshift"
	files, err := RenderWith(inv, inv.Servers[0], goldenPassword, s)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]File{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	for path, want := range map[string]struct {
		content string
		secret  bool
	}{
		"/etc/redis/cluster/tls/ca.crt":    {"CA PEM\n", false},
		"/etc/redis/cluster/tls/redis.crt": {"CERT PEM\n", false},
		"/etc/redis/cluster/tls/redis.key": {fakeKey, true},
	} {
		f, ok := byPath[path]
		if !ok {
			t.Errorf("%s not rendered", path)
			continue
		}
		if string(f.Content) != want.content || f.Mode != 0o600 || f.Owner != "redis" || f.Group != "redis" || f.Secret != want.secret {
			t.Errorf("%s: mode %o %s:%s secret %v", path, f.Mode, f.Owner, f.Group, f.Secret)
		}
	}
	conf := string(byPath["/etc/redis/cluster/7001/redis_7001.conf"].Content)
	sum := sha256.Sum256([]byte(goldenPassword))
	for _, line := range []string{
		"port 0", "tls-port 7001", "tls-cluster yes", "tls-replication yes",
		"tls-cert-file /etc/redis/cluster/tls/redis.crt", "tls-key-file /etc/redis/cluster/tls/redis.key",
		"tls-ca-cert-file /etc/redis/cluster/tls/ca.crt",
		"user slotshift on #" + hex.EncodeToString(sum[:]) + " " + acl.Rule, "masteruser slotshift",
	} {
		if !strings.Contains(conf, "\n"+line+"\n") {
			t.Errorf("conf lacks %q:\n%s", line, conf)
		}
	}
	if strings.Contains(conf, "port 7001\n") && !strings.Contains(conf, "tls-port 7001\n") {
		t.Error("plain port rendered on a TLS cluster")
	}
	if strings.Count(conf, goldenPassword) != 2 { // requirepass and masterauth only
		t.Errorf("the password appears %d times, want 2 (requirepass, masterauth)", strings.Count(conf, goldenPassword))
	}
	dirs := Dirs(inv.Servers[0], s)
	found := false
	for _, d := range dirs {
		if d.Path == "/etc/redis/cluster/tls" {
			found = d.Mode == 0o700 && d.Owner == "redis"
		}
	}
	if !found {
		t.Errorf("no 0700 redis-owned tls dir in %+v", dirs)
	}

	// Diffs never show the key or the user's hash.
	red := string(redactAll([]byte(fakeKey)))
	if strings.Contains(red, "SECRET") || red == "" {
		t.Errorf("redacted key: %q", red)
	}
	if rc := string(redactConf([]byte(conf))); strings.Contains(rc, hex.EncodeToString(sum[:])) || !strings.Contains(rc, "user slotshift "+Mask) {
		t.Errorf("redacted conf shows the user's hash:\n%s", rc)
	}
}

func TestRenderTLSWithoutMaterialNamesTheVariables(t *testing.T) {
	inv := tlsInventory()
	_, err := Render(inv, inv.Servers[0], goldenPassword)
	if err == nil || !strings.Contains(err.Error(), "MY_CA, MY_CERT, MY_KEY") {
		t.Fatalf("err = %v, want one naming the variables", err)
	}
}

func TestManagedTLSAndACLDirectives(t *testing.T) {
	for _, k := range []string{"tls-port", "tls-cluster", "user", "masteruser"} {
		inv := seedInventory()
		inv.Cluster.RedisConfig = map[string]string{k: "x"}
		if _, err := Render(inv, inv.Servers[0], goldenPassword); err == nil {
			t.Errorf("redis_config may set %s", k)
		}
	}
}
