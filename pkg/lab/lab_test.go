package lab

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/inventory"
)

// The cache key follows what goes into the root file system, not the
// order the packages are listed in.
func TestRootfsKey(t *testing.T) {
	base := Rootfs{CacheDir: "/c"}
	same := Rootfs{CacheDir: "/c", Packages: []string{"procps", "iproute2", "sudo", "redis-server", "openssh-server", "dbus", "systemd-sysv", "systemd"}}
	if base.Key() != same.Key() {
		t.Errorf("key depends on package order: %s vs %s", base.Key(), same.Key())
	}
	more := Rootfs{CacheDir: "/c", Packages: append([]string{"curl"}, DefaultPackages...)}
	other := Rootfs{CacheDir: "/c", Suite: "trixie"}
	for _, r := range []Rootfs{more, other} {
		if r.Key() == base.Key() {
			t.Errorf("%+v has the default key %s", r, base.Key())
		}
	}
	if got := base.Path(); !strings.HasPrefix(got, "/c/rootfs-bookworm-") {
		t.Errorf("path %s", got)
	}
}

// fakeLab is a lab with hosts at the addresses a lab would give them,
// without booting anything.
func fakeLab(n int) *Lab {
	l := &Lab{ID: 3, Bridge: "slotlab3", Gateway: "198.18.3.1"}
	for i := 1; i <= n; i++ {
		h, _ := l.newHost(i, keyPair{})
		l.Hosts = append(l.Hosts, h)
	}
	return l
}

// The lab's inventories are valid slotshift inventories in the seeds'
// topology, and the 5-server one is a valid change of the 3-server one.
func TestInventory(t *testing.T) {
	l := fakeLab(5)
	parse := func(text string) *inventory.Inventory {
		t.Helper()
		inv, err := inventory.Parse("lab.yml", []byte(text))
		if err != nil {
			t.Fatalf("parse:\n%s\n%v", text, err)
		}
		return inv
	}
	three := parse(l.Inventory(InventoryOptions{Servers: 3}))
	five := parse(l.Inventory(InventoryOptions{}))
	for _, f := range inventory.Check(five, three) {
		if f.Severity == inventory.SeverityFail {
			t.Errorf("5 servers vs base 3: %+v", f)
		}
	}
	want := map[string]string{"server1": "server3:7000", "server2": "server1:7000", "server3": "server2:7000", "server4": "", "server5": ""}
	for _, s := range five.Servers {
		if s.Address != l.Host(s.Name).Addr || len(s.Nodes) != 2 || s.Nodes[0].Port != MasterPort {
			t.Errorf("server %+v", s)
		}
		if got := s.Nodes[1].ReplicaOf; got != want[s.Name] {
			t.Errorf("%s replica_of %q, want %q", s.Name, got, want[s.Name])
		}
	}
	if five.Provision.Service != "systemd" || five.Cluster.NodeTimeoutMS != 2000 || len(three.Servers) != 3 {
		t.Errorf("provision %+v, node timeout %d, %d servers", five.Provision, five.Cluster.NodeTimeoutMS, len(three.Servers))
	}
}

// Sweep removes the lab of a dead owner, keeps a live owner's always, and
// a kept one unless told to remove kept labs.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	labs := map[string]state{
		"lab1": {ID: 1, Owner: dead.Process.Pid, OwnerStart: "1"},
		"lab2": {ID: 2, Owner: os.Getpid(), OwnerStart: processStart(os.Getpid())},
		"lab3": {ID: 3, Owner: 0},
	}
	for name, st := range labs {
		b, _ := json.Marshal(st)
		if err := os.MkdirAll(filepath.Join(dir, name, "server1"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "lab.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	swept, err := Sweep(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(swept) != 1 || filepath.Base(swept[0]) != "lab1" {
		t.Errorf("swept %v, want lab1 only", swept)
	}
	if swept, err = Sweep(dir, true); err != nil || len(swept) != 1 || filepath.Base(swept[0]) != "lab3" {
		t.Errorf("sweep kept: %v, %v; want lab3 only", swept, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 1 || filepath.Base(left[0]) != "lab2" {
		t.Errorf("left: %v, want the live owner's lab2", left)
	}
}
