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

	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// clusterInventory renders an inventory for harness nodes: the first six
// form server1..3 (master i, replica following master (i+1)%3, as Form
// builds them); the next four are server4 and server5, cross-replicated.
// Gates are generous: these tests are about secrets, not throttling.
func clusterInventory(ports []int, sshPort int) string {
	extra := ""
	if len(ports) >= 10 {
		extra = sandboxtest.CrossPair("server4", "server5", [4]int(ports[6:10]))
	}
	return sandboxtest.CrossInventory(ports[:6], 3, sandboxtest.InventoryOptions{Name: "secrets",
		Preamble: fmt.Sprintf("ssh: {user: root, port: %d}\n", sshPort), Extra: extra + sandboxtest.GenerousGates})
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
func TestNoSecretLeaksFromAnyStage(t *testing.T) {
	c := sandboxtest.Start(t, 10, sandboxtest.Options{})
	c.Nodes = c.Nodes[:6]
	c.Form(t, 3)
	c.Load(t, 2000, 32)
	var ports []int
	for _, n := range c.Nodes {
		ports = append(ports, n.Port)
	}
	extra := sandboxtest.Start(t, 4, sandboxtest.Options{})
	for _, n := range extra.Nodes {
		ports = append(ports, n.Port)
	}

	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yml")
	if err := os.WriteFile(inv, []byte(clusterInventory(ports, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	key := sshKeyPEM(t)
	outFile, sumFile := filepath.Join(dir, "out"), filepath.Join(dir, "summary")
	env := []string{
		"SLOTSHIFT_PASSWORD=" + c.Password,
		"SLOTSHIFT_SSH_KEY=" + key,
		"SLOTSHIFT_SSH_KNOWN_HOSTS=127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake",
		"SLOTSHIFT_INVENTORY_FILE=" + inv,
		"SLOTSHIFT_REPORT_DIR=" + filepath.Join(dir, "reports"),
		"SLOTSHIFT_LOG_LEVEL=debug",
		"GITHUB_ACTIONS=true", "GITHUB_OUTPUT=" + outFile, "GITHUB_STEP_SUMMARY=" + sumFile,
	}
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

	secrets := []string{c.Password}
	for _, line := range strings.Split(key, "\n") {
		if len(line) >= 8 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
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
	if !strings.Contains(printed.String(), "::add-mask::"+c.Password) {
		t.Error("the password was never masked")
	}
}
