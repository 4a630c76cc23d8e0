package cli_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/slotshift/slotshift/pkg/acl"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// clusterInventory renders an inventory for harness nodes: the first six
// form server1..3 (master i, replica following master (i+1)%3, as Form
// builds them); the next four are server4 and server5, cross-replicated.
// Gates are generous: these tests are about secrets, not throttling.
func clusterInventory(ports []int, sshPort int) string {
	return clusterInventoryWith(ports, sshPort, "")
}

// clusterInventoryWith is clusterInventory with clusterExtra lines (two
// spaces indented) added to the cluster block.
func clusterInventoryWith(ports []int, sshPort int, clusterExtra string) string {
	extra := ""
	if len(ports) >= 10 {
		extra = sandboxtest.CrossPair("server4", "server5", [4]int(ports[6:10]))
	}
	return sandboxtest.CrossInventory(ports[:6], 3, sandboxtest.InventoryOptions{Name: "secrets",
		Preamble: clusterExtra + fmt.Sprintf("ssh: {user: root, port: %d}\n", sshPort), Extra: extra + sandboxtest.GenerousGates})
}

func sshKeyPEM(t *testing.T) string {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}

// TestNoSecretLeaksFromAnyStage runs every stage against a real cluster
// with debug logging and a fake GitHub Actions environment, then looks for
// the Redis password and every line of the SSH key in everything slotshift
// wrote: stdout, stderr, reports, outputs, step summary, the layout file.
// The only place a secret may appear is an ::add-mask:: command.
//
// The second run adds TLS (the client key is a secret too) and an ACL user
// whose password differs from requirepass.
func TestNoSecretLeaksFromAnyStage(t *testing.T) {
	t.Run("password and ssh key", func(t *testing.T) { secretLeaks(t, false) })
	t.Run("tls key and acl password", func(t *testing.T) { secretLeaks(t, true) })
}

func secretLeaks(t *testing.T, secure bool) {
	c := sandboxtest.Start(t, 6, sandboxtest.Options{TLS: secure})
	c.Form(t, 3)
	c.Load(t, 2000, 32)
	c.AddNodes(t, 4)
	ports := c.Ports()
	password, preamble := c.Password, ""
	var tlsKey string
	var secureEnv []string
	if secure {
		c.SetUser(t, aclUser, aclPassword, acl.Rule)
		password, tlsKey = aclPassword, c.TLS.Key
		preamble = "  user_env: SLOTSHIFT_USER\n" + tlsPreamble
		secureEnv = []string{"SLOTSHIFT_USER=" + aclUser, "SLOTSHIFT_TLS_CA=" + c.TLS.CA,
			"SLOTSHIFT_TLS_CERT=" + c.TLS.Cert, "SLOTSHIFT_TLS_KEY=" + tlsKey}
	}

	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yml")
	if err := os.WriteFile(inv, []byte(clusterInventoryWith(ports, 1, preamble)), 0o644); err != nil {
		t.Fatal(err)
	}
	key := sshKeyPEM(t)
	outFile, sumFile := filepath.Join(dir, "out"), filepath.Join(dir, "summary")
	env := []string{
		"SLOTSHIFT_PASSWORD=" + password,
		"SLOTSHIFT_SSH_KEY=" + key,
		"SLOTSHIFT_SSH_KNOWN_HOSTS=127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake",
		"SLOTSHIFT_INVENTORY_FILE=" + inv,
		"SLOTSHIFT_REPORT_DIR=" + filepath.Join(dir, "reports"),
		"SLOTSHIFT_LOG_LEVEL=debug",
		"GITHUB_ACTIONS=true", "GITHUB_OUTPUT=" + outFile, "GITHUB_STEP_SUMMARY=" + sumFile,
	}
	env = append(env, secureEnv...)
	var printed strings.Builder
	steps := []struct {
		args []string
		code int
	}{
		{[]string{"validate"}, 1}, // kernel.ssh fails: no sshd on port 1 (its error must not leak the key)
		{[]string{"join"}, 0},
		{[]string{"verify"}, 1}, // new masters own no slots yet
		{[]string{"snapshot", "--output", filepath.Join(dir, "layout.json")}, 0},
		{[]string{"plan"}, 0},
		{[]string{"rebalance", "--max-batches", "2"}, 0},
		{[]string{"rebalance"}, 0},
		{[]string{"verify"}, 0},
		{[]string{"provision", "--dry-run"}, -1}, // no sshd on port 1: any non-zero code
	}
	for _, s := range steps {
		res := runBin(t, dir, env, s.args...)
		if (s.code >= 0 && res.code != s.code) || (s.code < 0 && res.code == 0) {
			t.Errorf("slotshift %v: exit %d\n%s", s.args, res.code, res.stderr)
		}
		printed.WriteString(res.stdout)
		printed.WriteString(res.stderr)
	}

	secrets := []string{c.Password, password}
	var keyLines []string
	for _, k := range []string{key, tlsKey} {
		for _, line := range strings.Split(k, "\n") {
			if len(line) >= 8 && !strings.HasPrefix(line, "-----") {
				keyLines = append(keyLines, line)
			}
		}
	}
	secrets = append(secrets, keyLines...)
	scan := func(what, text string) {
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "::add-mask::") {
				continue
			}
			for _, s := range secrets {
				if strings.Contains(line, s) {
					t.Errorf("secret leaked in %s: %.120q", what, line)
				}
			}
		}
	}
	scan("stdout/stderr", printed.String())
	files := []string{outFile, sumFile, filepath.Join(dir, "layout.json")}
	entries, _ := os.ReadDir(filepath.Join(dir, "reports"))
	for _, e := range entries {
		files = append(files, filepath.Join(dir, "reports", e.Name()))
	}
	if len(entries) < 14 {
		t.Errorf("want a JSON and a JUnit report for each of 7 stages, got %d files", len(entries))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Errorf("read %s: %v", f, err)
			continue
		}
		scan(filepath.Base(f), string(data))
	}
	// The masks themselves must be there, first, for the password and the key.
	if !strings.Contains(printed.String(), "::add-mask::"+password) {
		t.Error("the password was never masked")
	}
	// Every line of a key is masked on its own: Actions masks a multi-line
	// value only line by line.
	for _, l := range keyLines {
		if len(l) >= 16 && !strings.Contains(printed.String(), "::add-mask::"+l+"\n") {
			t.Errorf("key line %.8q... was never masked", l)
		}
	}
}
