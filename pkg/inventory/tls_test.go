package inventory

import (
	"os"
	"strings"
	"testing"
	"time"
)

// withTLS puts a tls block under cluster (line 4 onwards).
func withTLS(block string) string {
	return strings.Replace(valid, "  name: t\n", "  name: t\n  tls:\n"+block, 1)
}

func TestParseTLS(t *testing.T) {
	inv, err := Parse("inv.yml", []byte(withTLS("    ca_env: MY_CA\n    cert_env: MY_CERT\n    key_env: MY_KEY\n    server_name: redis.internal\n")))
	if err != nil {
		t.Fatal(err)
	}
	tl := inv.Cluster.TLS
	if tl == nil || tl.CAEnv != "MY_CA" || tl.CertEnv != "MY_CERT" || tl.KeyEnv != "MY_KEY" || tl.ServerName != "redis.internal" {
		t.Fatalf("tls = %+v", tl)
	}
	if tl.Line != 4 || tl.MinValidity.Duration != DefaultTLSMinValidity || tl.InsecureSkipVerify || !inv.TLSEnabled() {
		t.Errorf("line %d, min_validity %s, insecure %v; want line 4, the default, false", tl.Line, tl.MinValidity, tl.InsecureSkipVerify)
	}
	c := inv.Clone()
	c.Cluster.TLS.CAEnv = "OTHER"
	if inv.Cluster.TLS.CAEnv != "MY_CA" {
		t.Error("Clone shares the tls block")
	}
	plain, err := Parse("inv.yml", []byte(valid))
	if err != nil || plain.TLSEnabled() {
		t.Fatalf("no tls block: TLSEnabled = %v, err %v", plain.TLSEnabled(), err)
	}
}

func TestParseTLSInsecureAndValidity(t *testing.T) {
	inv, err := Parse("inv.yml", []byte(withTLS("    {ca_env: A, cert_env: B, key_env: C, min_validity: 720h, insecure_skip_verify: true}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if !inv.Cluster.TLS.InsecureSkipVerify || inv.Cluster.TLS.MinValidity.Duration != 720*time.Hour {
		t.Errorf("tls = %+v", inv.Cluster.TLS)
	}
}

func TestParseTLSErrors(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----MIGHAgEAMBMGByqGSM49"
	tests := []struct {
		name, block, field, contains string
		line                         int
		extra                        string
	}{
		{"exporter units are plain", "    {ca_env: A, cert_env: B, key_env: C}\n", "provision.redis_exporter", "not supported with cluster.tls", 23, "provision: {redis_exporter: true}\n"},
		{"missing ca_env", "    {cert_env: B, key_env: C}\n", "cluster.tls.ca_env", "required", 4, ""},
		{"missing key_env", "    {ca_env: A, cert_env: B}\n", "cluster.tls.key_env", "the private key", 4, ""},
		{"typo", "    {ca_env: A, cert_env: B, key_env: C, servername: x}\n", "cluster.tls.servername", `did you mean "server_name"?`, 5, ""},
		{"no way to skip verification but by name", "    {ca_env: A, cert_env: B, key_env: C, verify: false}\n", "cluster.tls.verify", "insecure_skip_verify", 5, ""},
		{"not a bool", "    {ca_env: A, cert_env: B, key_env: C, insecure_skip_verify: 'yes'}\n", "cluster.tls.insecure_skip_verify", "want true or false", 5, ""},
		{"negative validity", "    {ca_env: A, cert_env: B, key_env: C, min_validity: -1h}\n", "cluster.tls.min_validity", "negative", 4, ""},
		{"content instead of a name", "    {ca_env: A, cert_env: B, key_env: \"" + pem + "\"}\n", "cluster.tls.key_env", "value not shown", 4, ""},
		{"content of the wrong type", "    {ca_env: A, cert_env: B, key_env: 123456789}\n", "cluster.tls.key_env", "an integer (value not shown)", 5, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("inv.yml", []byte(withTLS(tc.block)+tc.extra))
			if err == nil {
				t.Fatal("want an error")
			}
			found := false
			for _, p := range problems(t, err) {
				if strings.Contains(p.Message, "MIGHAgEAMBMGByqGSM49") {
					t.Errorf("message echoes the secret: %s", p.Message)
				}
				if p.Field == tc.field && strings.Contains(p.Message, tc.contains) && p.Line == tc.line {
					found = true
				}
			}
			if !found {
				t.Errorf("want %s:%d %q, got %v", tc.field, tc.line, tc.contains, err)
			}
		})
	}
}

// TestREADMEInventoryParses: the README's inventory example, with its
// tls and user_env, is valid schema.
func TestREADMEInventoryParses(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\nversion: 1\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README has no ```yaml block starting with version: 1")
	}
	inv, err := Parse("README.md", []byte("version: 1\n"+block))
	if err != nil {
		t.Fatal(err)
	}
	if !inv.TLSEnabled() || inv.Cluster.TLS.KeyEnv != "REDIS_TLS_KEY" || inv.Cluster.UserEnv != "REDIS_USER" || inv.Cluster.TLS.MinValidity.Duration != 336*time.Hour {
		t.Errorf("README example: tls %+v, user_env %q", inv.Cluster.TLS, inv.Cluster.UserEnv)
	}
}
