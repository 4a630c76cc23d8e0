package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Material is PEM text: the CA certificate(s) that sign the servers'
// certificates, and the client certificate and key slotshift presents
// (Redis' tls-auth-clients is on by default). Key is a secret.
type Material struct {
	CA, Cert, Key string
	// The names of the variables the PEM came from, for error messages
	// ("SLOTSHIFT_TLS_CA"); never the content.
	CAEnv, CertEnv, KeyEnv string
}

// Settings say how the servers' certificates are verified.
type Settings struct {
	// ServerName is the name every node's certificate must carry; "" =
	// the address the node is dialled at (an IP needs an IP SAN).
	ServerName string
	// InsecureSkipVerify turns verification of the servers' certificates
	// off. Only the inventory field insecure_skip_verify sets it, and the
	// stages say so loudly.
	InsecureSkipVerify bool
}

// Cert is one certificate of the material and when it stops being valid.
type Cert struct {
	// Source names where it came from: "ca" or "cert", and the variable.
	Source   string
	Subject  string
	NotAfter time.Time
}

// Config builds the client TLS configuration: the CA pool to verify
// servers with and the client certificate. Errors name the variable that
// holds the bad PEM, never its content.
func Config(m Material, s Settings) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(m.CA)) {
		return nil, fmt.Errorf("%s (cluster.tls.ca_env): no PEM certificate found", orName(m.CAEnv, "CA"))
	}
	pair, err := tls.X509KeyPair([]byte(m.Cert), []byte(m.Key))
	if err != nil {
		// tls' messages describe the PEM blocks, never their bytes.
		return nil, fmt.Errorf("%s/%s (cluster.tls.cert_env/key_env): %w", orName(m.CertEnv, "cert"), orName(m.KeyEnv, "key"), err)
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		RootCAs:            pool,
		Certificates:       []tls.Certificate{pair},
		ServerName:         s.ServerName,
		InsecureSkipVerify: s.InsecureSkipVerify, //nolint:gosec // only when the inventory says so by name
	}, nil
}

// Certs lists every certificate in the CA and Cert PEM with its expiry.
func Certs(m Material) ([]Cert, error) {
	var out []Cert
	for _, src := range []struct{ what, env, pem string }{
		{"ca", m.CAEnv, m.CA}, {"cert", m.CertEnv, m.Cert},
	} {
		certs, err := parseCerts(src.pem)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", orName(src.env, src.what), err)
		}
		for _, c := range certs {
			out = append(out, Cert{Source: src.what + " " + orName(src.env, ""), Subject: c.Subject.String(), NotAfter: c.NotAfter})
		}
	}
	return out, nil
}

func parseCerts(text string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(text)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// SecretLines returns the key's base64 lines (and the whole key): the
// pieces a log could show of it, for masking and redaction. GitHub's
// ::add-mask:: masks a value line by line only when each line is given.
func SecretLines(key string) []string {
	if strings.TrimSpace(key) == "" {
		return nil
	}
	out := []string{key}
	for l := range strings.SplitSeq(key, "\n") {
		l = strings.TrimSpace(l)
		// PEM armour and headers are not secret, and a short tail line
		// would redact unrelated text.
		if len(l) < 16 || strings.HasPrefix(l, "-----") || strings.Contains(l, ":") {
			continue
		}
		out = append(out, l)
	}
	return out
}

func orName(env, fallback string) string {
	if env != "" {
		return env
	}
	return fallback
}
