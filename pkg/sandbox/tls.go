package sandbox

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/slotshift/slotshift/pkg/redisconf"
	"github.com/slotshift/slotshift/pkg/tlsconf"
)

// TLSFiles are the PEM files a TLS node is started with.
type TLSFiles struct {
	CA, Cert, Key string // paths
}

// TLSConfig turns a node TLS-only: the client port serves TLS (port 0,
// tls-port), and the cluster bus and replication use TLS too.
type TLSConfig struct {
	Files TLSFiles
	// Client is the configuration the sandbox's own probes dial with.
	Client *tls.Config
}

// WriteTLSFiles writes the material's PEM into dir (mode 0600 files in a
// 0700 directory), for NodeConfig.TLS.
func WriteTLSFiles(dir string, m tlsconf.Material) (TLSFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return TLSFiles{}, fmt.Errorf("sandbox tls dir: %w", err)
	}
	f := TLSFiles{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "redis.crt"), Key: filepath.Join(dir, "redis.key")}
	for path, content := range map[string]string{f.CA: m.CA, f.Cert: m.Cert, f.Key: m.Key} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return TLSFiles{}, fmt.Errorf("sandbox tls: %w", err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return TLSFiles{}, fmt.Errorf("sandbox tls: %w", err)
		}
	}
	return f, nil
}

// tlsDirectives are the redis.conf lines of a TLS node on port.
func tlsDirectives(t *TLSConfig, port int) string {
	var b strings.Builder
	w := func(k, v string) { fmt.Fprintf(&b, "%s %s\n", k, v) }
	w("port", "0")
	w("tls-port", fmt.Sprint(port))
	w("tls-cert-file", redisconf.Quote(t.Files.Cert))
	w("tls-key-file", redisconf.Quote(t.Files.Key))
	w("tls-ca-cert-file", redisconf.Quote(t.Files.CA))
	w("tls-cluster", "yes")
	w("tls-replication", "yes")
	return b.String()
}

// clientTLS is the configuration the sandbox's probes dial a node with.
func (c NodeConfig) clientTLS() *tls.Config {
	if c.TLS == nil {
		return nil
	}
	return c.TLS.Client
}

// upTLS writes Up's TLS material to dir/tls; nil when the sandbox is plain.
func upTLS(dir string, opts Options) (*TLSConfig, error) {
	if opts.TLS == nil {
		return nil, nil
	}
	files, err := WriteTLSFiles(filepath.Join(dir, "tls"), *opts.TLS)
	if err != nil {
		return nil, err
	}
	return &TLSConfig{Files: files, Client: opts.TLSClient}, nil
}
