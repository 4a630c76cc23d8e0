package cli

import (
	"fmt"
	"strings"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/stage"
	"github.com/slotshift/slotshift/pkg/tlsconf"
)

// loadTLS reads the PEM material cluster.tls names into s. Missing
// variables are reported by name, malformed PEM too; the content never
// appears in an error. allowMissing lets an offline validate (a PR run
// without the deploy secrets) go on without the material.
func loadTLS(getenv func(string) string, inv *inventory.Inventory, s *stage.Secrets, allowMissing bool) error {
	if !inv.TLSEnabled() {
		return nil
	}
	t := inv.Cluster.TLS
	m := tlsconf.Material{
		CA: getenv(t.CAEnv), Cert: getenv(t.CertEnv), Key: getenv(t.KeyEnv),
		CAEnv: t.CAEnv, CertEnv: t.CertEnv, KeyEnv: t.KeyEnv,
	}
	s.TLSKey = m.Key // masked even when the rest is missing
	var missing []string
	for _, v := range []struct{ name, val string }{{t.CAEnv, m.CA}, {t.CertEnv, m.Cert}, {t.KeyEnv, m.Key}} {
		if strings.TrimSpace(v.val) == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		if allowMissing {
			return nil
		}
		return &stage.UsageError{
			Err:  fmt.Errorf("cluster.tls: environment variable(s) %s not set", strings.Join(missing, ", ")),
			Hint: "set them to the PEM content of the CA certificate, the client certificate and its key",
		}
	}
	cfg, err := tlsconf.Config(m, tlsconf.Settings{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify})
	if err != nil {
		return &stage.UsageError{Err: fmt.Errorf("cluster.tls: %w", err), Hint: "the variables must hold PEM text: the CA certificate, a certificate and its private key"}
	}
	certs, err := tlsconf.Certs(m)
	if err != nil {
		return &stage.UsageError{Err: fmt.Errorf("cluster.tls: %w", err)}
	}
	s.TLS, s.TLSCerts, s.TLSMaterial = cfg, certs, &m
	return nil
}
