package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"

	"github.com/slotshift/slotshift/pkg/acl"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/tlsconf"
)

// File kinds of the TLS material.
const (
	KindTLSCert = "tls-cert"
	KindTLSKey  = "tls-key"
)

// TLS file names under TLSDir.
const (
	tlsCAFile   = "ca.crt"
	tlsCertFile = "redis.crt"
	tlsKeyFile  = "redis.key"
)

// TLSDir is where provision installs the TLS material: Config/tls.
func TLSDir(s Settings) string { return path.Join(s.Paths.Config, "tls") }

// tlsFiles are the CA, certificate and key files, 0600 and owned by the
// Redis user (Redis reads them at start and on CONFIG SET), or nil when
// the cluster is plain. The key's content never appears in a diff.
func tlsFiles(inv *inventory.Inventory, s Settings) ([]File, error) {
	if !inv.TLSEnabled() {
		return nil, nil
	}
	m := s.TLS
	if m == nil || m.CA == "" || m.Cert == "" || m.Key == "" {
		return nil, fmt.Errorf("cluster.tls is set but the TLS material (%s, %s, %s) was not given", inv.Cluster.TLS.CAEnv, inv.Cluster.TLS.CertEnv, inv.Cluster.TLS.KeyEnv)
	}
	f := func(name, content, kind string, secret bool) File {
		return File{Path: path.Join(TLSDir(s), name), Mode: 0o600, Owner: s.User, Group: s.Group,
			Content: []byte(content), Secret: secret, Kind: kind}
	}
	return []File{
		f(tlsCAFile, m.CA, KindTLSCert, false),
		f(tlsCertFile, m.Cert, KindTLSCert, false),
		f(tlsKeyFile, m.Key, KindTLSKey, true),
	}, nil
}

// confListen writes the node's listening directives: port, or for a TLS
// cluster port 0 and tls-port with TLS on the bus and for replication.
func confListen(kv func(k, v string), inv *inventory.Inventory, s Settings, port int) {
	if !inv.TLSEnabled() {
		kv("port", strconv.Itoa(port))
		return
	}
	kv("port", "0")
	kv("tls-port", strconv.Itoa(port))
	kv("tls-cert-file", path.Join(TLSDir(s), tlsCertFile))
	kv("tls-key-file", path.Join(TLSDir(s), tlsKeyFile))
	kv("tls-ca-cert-file", path.Join(TLSDir(s), tlsCAFile))
	kv("tls-cluster", "yes")
	kv("tls-replication", "yes")
}

// confUser writes the ACL user of cluster.user_env with the README's
// least-privilege rule (acl.Rule) and makes replicas authenticate as it.
// The password is stored as its SHA-256, never in clear.
func confUser(kv func(k, v string), s Settings, password string) {
	if s.ACLUser == "" {
		return
	}
	sum := sha256.Sum256([]byte(password))
	kv("user", s.ACLUser+" on #"+hex.EncodeToString(sum[:])+" "+acl.Rule)
	kv("masteruser", s.ACLUser)
}

// redactAll replaces a secret file's content in a diff: one line saying
// it is there (or not).
func redactAll(content []byte) []byte {
	if len(content) == 0 {
		return nil
	}
	return []byte("(secret content, " + Mask + ")\n")
}

// tlsKeyLines are the pieces of the TLS key the scrubber masks.
func tlsKeyLines(m *tlsconf.Material) []string {
	if m == nil {
		return nil
	}
	return tlsconf.SecretLines(m.Key)
}
