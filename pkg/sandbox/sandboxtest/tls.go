package sandboxtest

import (
	"crypto/tls"
	"path/filepath"
	"testing"

	"github.com/slotshift/slotshift/pkg/certgen"
	"github.com/slotshift/slotshift/pkg/sandbox"
	"github.com/slotshift/slotshift/pkg/tlsconf"
)

// TLSMaterial makes a fresh CA and one certificate for 127.0.0.1 and
// localhost (server and client use), as the PEM a TLS inventory's
// variables hold.
func TLSMaterial(t testing.TB) tlsconf.Material {
	t.Helper()
	ca, err := certgen.NewCA("slotshift test CA")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.Issue(certgen.Options{CommonName: "slotshift test node"})
	if err != nil {
		t.Fatal(err)
	}
	return tlsconf.Material{CA: ca.CertPEM, Cert: p.CertPEM, Key: p.KeyPEM}
}

// setupTLS writes the cluster's material under its directory and builds
// the client configuration every harness client dials with.
func (c *Cluster) setupTLS(t testing.TB) {
	t.Helper()
	if !c.opts.TLS {
		return
	}
	c.TLS = TLSMaterial(t)
	files, err := sandbox.WriteTLSFiles(filepath.Join(c.Dir, "tls"), c.TLS)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsconf.Config(c.TLS, tlsconf.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	c.ClientTLS = cfg
	c.nodeTLS = &sandbox.TLSConfig{Files: files, Client: cfg}
}

// clientTLS is nil for a plain cluster.
func (c *Cluster) clientTLS() *tls.Config { return c.ClientTLS }

// cliTLSArgs are redis-cli's TLS flags for a TLS cluster (file paths, no
// secret), nil for a plain one.
func (c *Cluster) cliTLSArgs() []string {
	if c.nodeTLS == nil {
		return nil
	}
	f := c.nodeTLS.Files
	return []string{"--tls", "--cacert", f.CA, "--cert", f.Cert, "--key", f.Key}
}
