package tlsconf_test

import (
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/certgen"
	"github.com/slotshift/slotshift/pkg/tlsconf"
)

func material(t *testing.T, notAfter time.Time) tlsconf.Material {
	t.Helper()
	ca, err := certgen.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.Issue(certgen.Options{CommonName: "client", NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	return tlsconf.Material{CA: ca.CertPEM, Cert: p.CertPEM, Key: p.KeyPEM, CAEnv: "MY_CA", CertEnv: "MY_CERT", KeyEnv: "MY_KEY"}
}

func TestConfig(t *testing.T) {
	m := material(t, time.Time{})
	cfg, err := tlsconf.Config(m, tlsconf.Settings{ServerName: "redis.internal"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServerName != "redis.internal" || cfg.InsecureSkipVerify || len(cfg.Certificates) != 1 || cfg.RootCAs == nil {
		t.Fatalf("config = %+v", cfg)
	}
}

func TestConfigErrorsNameTheVariableNotTheContent(t *testing.T) {
	good := material(t, time.Time{})
	other := material(t, time.Time{})
	for name, m := range map[string]tlsconf.Material{
		"bad CA":        {CA: "not pem", Cert: good.Cert, Key: good.Key, CAEnv: "MY_CA"},
		"key mismatch":  {CA: good.CA, Cert: good.Cert, Key: other.Key, CertEnv: "MY_CERT", KeyEnv: "MY_KEY"},
		"key not given": {CA: good.CA, Cert: good.Cert, CertEnv: "MY_CERT", KeyEnv: "MY_KEY"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tlsconf.Config(m, tlsconf.Settings{})
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), "MY_") {
				t.Errorf("error does not name the variable: %v", err)
			}
			for _, l := range tlsconf.SecretLines(other.Key)[1:] {
				if strings.Contains(err.Error(), l) {
					t.Errorf("error shows key content: %v", err)
				}
			}
		})
	}
}

func TestCertsListsExpiry(t *testing.T) {
	end := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	certs, err := tlsconf.Certs(material(t, end))
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 {
		t.Fatalf("certs = %+v, want the CA and the client cert", certs)
	}
	if !certs[1].NotAfter.Equal(end) || !strings.Contains(certs[1].Source, "MY_CERT") || !strings.Contains(certs[1].Subject, "client") {
		t.Errorf("client cert = %+v, want NotAfter %s from MY_CERT", certs[1], end)
	}
	if _, err := tlsconf.Certs(tlsconf.Material{CA: "x", CAEnv: "MY_CA"}); err == nil || !strings.Contains(err.Error(), "MY_CA") {
		t.Errorf("bad CA: err = %v, want one naming MY_CA", err)
	}
}

func TestSecretLines(t *testing.T) {
	m := material(t, time.Time{})
	lines := tlsconf.SecretLines(m.Key)
	if len(lines) < 2 || lines[0] != m.Key {
		t.Fatalf("lines = %q", lines)
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, "PRIVATE KEY") || len(l) < 16 {
			t.Errorf("line %q should not be masked", l)
		}
	}
	if tlsconf.SecretLines("  ") != nil {
		t.Error("blank key gives lines")
	}
}
