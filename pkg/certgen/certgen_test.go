package certgen

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

func parse(t *testing.T, text string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(text))
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssueVerifiesAgainstItsCAOnly(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	p, err := ca.Issue(Options{Hosts: []string{"127.0.0.1", "redis.internal"}, NotAfter: end})
	if err != nil {
		t.Fatal(err)
	}
	leaf := parse(t, p.CertPEM)
	if !leaf.NotAfter.Equal(end) {
		t.Errorf("NotAfter %s, want %s", leaf.NotAfter, end)
	}
	roots := x509.NewCertPool()
	roots.AddCert(parse(t, ca.CertPEM))
	for _, name := range []string{"127.0.0.1", "redis.internal"} {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("verify for %s, usage %v: %v", name, usage, err)
			}
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.host"}); err == nil {
		t.Error("verified for a name it does not carry")
	}
	other, err := NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	wrong := x509.NewCertPool()
	wrong.AddCert(parse(t, other.CertPEM))
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: wrong, DNSName: "127.0.0.1"}); err == nil {
		t.Error("verified against another CA")
	}
}
