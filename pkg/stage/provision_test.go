package stage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/provision"
	"github.com/slotshift/slotshift/pkg/provision/sshdtest"
	"github.com/slotshift/slotshift/pkg/report"
)

func provisionInventory(root string, sshPort int) *inventory.Inventory {
	f := false
	return &inventory.Inventory{
		Source:  "inventory.yml",
		Version: 1,
		Cluster: inventory.Cluster{Name: "it", NodeTimeoutMS: 1000},
		Servers: []inventory.Server{{
			Name: "server1", Address: "127.0.0.1", SSH: inventory.SSH{User: "root", Port: sshPort},
			Nodes: []inventory.Node{{Port: 1, Role: inventory.RoleMaster}},
		}},
		Provision: inventory.Provision{Service: "daemon", Install: "skip", KernelTuning: &f, User: "root", Group: "root",
			Paths: inventory.Paths{Config: filepath.Join(root, "conf"), Data: filepath.Join(root, "data"),
				Log: filepath.Join(root, "log"), Run: filepath.Join(root, "run")}},
	}
}

func TestProvisionUsageErrors(t *testing.T) {
	inv := provisionInventory(t.TempDir(), 22)
	for name, sec := range map[string]Secrets{
		"no password":    {SSHKey: "k", KnownHosts: "h"},
		"no key":         {Password: "p", KnownHosts: "h"},
		"no known_hosts": {Password: "p", SSHKey: "k"},
	} {
		_, err := Provision(context.Background(), Env{Inventory: inv, Secrets: sec}, ProvisionInput{})
		var ue *UsageError
		if !errors.As(err, &ue) || ue.Hint == "" {
			t.Errorf("%s: want a UsageError with a hint, got %v", name, err)
		}
	}
}

// TestProvisionStageDryRun runs the stage against a real sshd: the result
// carries the provision section, per-server and per-node checks, and the
// dry run creates nothing.
func TestProvisionStageDryRun(t *testing.T) {
	sshd := sshdtest.Start(t)
	root := t.TempDir()
	inv := provisionInventory(root, sshd.Port)
	inv.Servers[0].Nodes[0].Port = sshdtest.FreePort(t)
	password := "stage-password-0123456789"
	res, err := Provision(context.Background(), Env{Inventory: inv, Secrets: Secrets{
		Password: password, SSHKey: sshd.ClientKey, KnownHosts: sshd.KnownHosts,
	}}, ProvisionInput{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome() != report.OutcomePass {
		t.Fatalf("outcome %s: %+v", res.Outcome(), res.Checks)
	}
	if res.Provision == nil || !res.Provision.DryRun || len(res.Provision.Servers) != 1 {
		t.Fatalf("provision section: %+v", res.Provision)
	}
	ids := map[string]string{}
	for _, c := range res.Checks {
		ids[c.ID] = c.Node
		if strings.Contains(c.Message, password) {
			t.Errorf("password in check %s", c.ID)
		}
	}
	if ids["provision.connect"] != "server1" || ids["provision.file"] != "server1" ||
		!strings.HasPrefix(ids["provision.start"], "127.0.0.1:") {
		t.Errorf("checks and their nodes: %v", ids)
	}
	if res.Outputs["files-changed"] == "0" || len(res.Summary) != 1 || !strings.Contains(res.Summary[0], "would change") {
		t.Errorf("outputs %v summary %v", res.Outputs, res.Summary)
	}
	if _, err := os.Stat(filepath.Join(root, "conf")); !os.IsNotExist(err) {
		t.Error("dry run created the config directory")
	}
}

// TestProvisionUsesGivenDial: the stage talks to servers through the
// dialer it is given; a server it cannot reach is a connect check in
// error naming the server, not an error of the run.
func TestProvisionUsesGivenDial(t *testing.T) {
	inv := provisionInventory(t.TempDir(), 22)
	var dialed []string
	res, err := Provision(context.Background(), Env{Inventory: inv, Secrets: Secrets{Password: "p", SSHKey: "k", KnownHosts: "h"}},
		ProvisionInput{Dial: func(_ context.Context, _ *inventory.Inventory, s inventory.Server) (provision.Runner, error) {
			dialed = append(dialed, s.Name)
			return nil, errors.New("no route to server")
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dialed) != 1 || dialed[0] != "server1" {
		t.Fatalf("dialed %v, want [server1]", dialed)
	}
	found := false
	for _, c := range res.Checks {
		if c.ID == "provision.connect" && c.Node == "server1" && c.Status == report.Error && strings.Contains(c.Message, "no route to server") {
			found = true
		}
	}
	if !found || res.Outcome() != report.OutcomeFail {
		t.Errorf("outcome %s, checks %+v: want provision.connect in error naming server1", res.Outcome(), res.Checks)
	}
}
