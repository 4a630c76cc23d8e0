package stage

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/provision/sshdtest"
	"github.com/slotshift/slotshift/pkg/report"
)

func TestKernelSkippedWithoutSSHKey(t *testing.T) {
	inv := &inventory.Inventory{Source: "inv.yaml", Servers: []inventory.Server{{Name: "s1", Address: "127.0.0.1", Line: 3}}}
	got := CheckKernel(context.Background(), Env{Inventory: inv})
	if len(got) != 1 || got[0].ID != check.IDKernelSettings || got[0].Status != report.Skip ||
		!strings.Contains(got[0].Message, "SLOTSHIFT_SSH_KEY") {
		t.Fatalf("got %+v, want one %s skip naming SLOTSHIFT_SSH_KEY", got, check.IDKernelSettings)
	}
}

// localKernel reads the files the remote command reads: the test sshd
// runs on this machine, so these are the values it must report.
func localKernel(t *testing.T) (thp string, overcommit, somaxconn int) {
	t.Helper()
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	thp = check.SelectedTHP(read("/sys/kernel/mm/transparent_hugepage/enabled"))
	if thp == "" {
		thp = "unavailable"
	}
	var err error
	if overcommit, err = strconv.Atoi(read("/proc/sys/vm/overcommit_memory")); err != nil {
		t.Fatalf("overcommit_memory: %v", err)
	}
	if somaxconn, err = strconv.Atoi(read("/proc/sys/net/core/somaxconn")); err != nil {
		t.Fatalf("somaxconn: %v", err)
	}
	return thp, overcommit, somaxconn
}

func TestKernelOverSSH(t *testing.T) {
	sshd := sshdtest.Start(t)
	thp, overcommit, somaxconn := localKernel(t)
	inv := &inventory.Inventory{Source: "inv.yaml", Servers: []inventory.Server{
		{Name: "s1", Address: "127.0.0.1", SSH: inventory.SSH{User: "root", Port: sshd.Port}, Line: 7},
		{Name: "s2", Address: "127.0.0.1", SSH: inventory.SSH{User: "root", Port: sshd.Port}, Line: 12},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("values", func(t *testing.T) {
		env := Env{Inventory: inv, Secrets: Secrets{SSHKey: sshd.ClientKey, KnownHosts: sshd.KnownHosts}}
		got := CheckKernel(ctx, env)
		if len(got) != 6 {
			t.Fatalf("got %d checks, want 3 per server: %+v", len(got), got)
		}
		for i, srv := range inv.Servers {
			cs := got[3*i : 3*i+3]
			wantIDs := []string{check.IDKernelTHP, check.IDKernelOvercommit, check.IDKernelSomaxconn}
			wantObs := []any{thp, overcommit, somaxconn}
			for j, c := range cs {
				if c.ID != wantIDs[j] || c.Node != srv.Name || c.File != "inv.yaml" || c.Line != srv.Line {
					t.Errorf("check %+v: want %s on %s at inv.yaml:%d", c, wantIDs[j], srv.Name, srv.Line)
				}
				if c.Observed != wantObs[j] {
					t.Errorf("%s on %s observed %v (%T), this machine has %v", c.ID, srv.Name, c.Observed, c.Observed, wantObs[j])
				}
				if c.Status == report.Error {
					t.Errorf("%s: %s", c.ID, c.Message)
				}
			}
		}
		if st := got[1].Status; (overcommit == 1) != (st == report.Pass) {
			t.Errorf("overcommit %d judged %s", overcommit, st)
		}
	})

	t.Run("wrong known_hosts", func(t *testing.T) {
		other, _ := sshdtest.NewKey(t)
		env := Env{Inventory: inv, Secrets: Secrets{SSHKey: sshd.ClientKey, KnownHosts: sshdtest.KnownHostsLine(sshd.Addr, other)}}
		got := CheckKernel(ctx, env)
		if len(got) != 2 {
			t.Fatalf("got %d checks, want one %s per server: %+v", len(got), check.IDKernelSSH, got)
		}
		for i, c := range got {
			srv := inv.Servers[i]
			if c.ID != check.IDKernelSSH || c.Status != report.Fail || c.Node != srv.Name || c.Line != srv.Line {
				t.Errorf("got %+v, want %s fail on %s", c, check.IDKernelSSH, srv.Name)
			}
			if !strings.Contains(c.Message, srv.Name) || !strings.Contains(c.Message, "mismatch") {
				t.Errorf("message %q should name %s and the mismatch", c.Message, srv.Name)
			}
			if c.Observed != sshd.Fingerprint {
				t.Errorf("observed %v, want the presented fingerprint %s", c.Observed, sshd.Fingerprint)
			}
			if strings.Contains(c.Message, "PRIVATE KEY") {
				t.Errorf("message leaks the key: %q", c.Message)
			}
		}
	})

	t.Run("unknown host", func(t *testing.T) {
		// known_hosts knows another host only.
		other, _ := sshdtest.NewKey(t)
		env := Env{Inventory: inv, Secrets: Secrets{SSHKey: sshd.ClientKey, KnownHosts: sshdtest.KnownHostsLine("127.0.0.2:22", other)}}
		got := CheckKernel(ctx, env)
		if len(got) != 2 || got[0].ID != check.IDKernelSSH || got[0].Status != report.Fail || !strings.Contains(got[0].Message, "not in known_hosts") {
			t.Fatalf("got %+v, want %s fails saying the host is not in known_hosts", got, check.IDKernelSSH)
		}
	})
}

// TestKernelNotSettableOverSSH reads the settings through an sshd whose
// sessions see /proc/sys and /sys read-only, as inside a container: a
// value off target there is a warning that says the host cannot change
// it, with the current value, never a failure.
func TestKernelNotSettableOverSSH(t *testing.T) {
	sshd := sshdtest.StartWith(t, sshdtest.Options{ReadOnly: []string{"/proc/sys", "/sys"}})
	thp, overcommit, somaxconn := localKernel(t)
	inv := &inventory.Inventory{Source: "inv.yaml", Servers: []inventory.Server{
		{Name: "s1", Address: "127.0.0.1", SSH: inventory.SSH{User: "root", Port: sshd.Port}, Line: 7},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := CheckKernel(ctx, Env{Inventory: inv, Secrets: Secrets{SSHKey: sshd.ClientKey, KnownHosts: sshd.KnownHosts}})
	if len(got) != 3 {
		t.Fatalf("got %d checks, want 3: %+v", len(got), got)
	}
	offTarget := []bool{thp != "never" && thp != "unavailable", overcommit != 1, somaxconn < 65535}
	wantObs := []any{thp, overcommit, somaxconn}
	for i, c := range got {
		if c.Observed != wantObs[i] {
			t.Errorf("%s observed %v, this machine has %v", c.ID, c.Observed, wantObs[i])
		}
		switch {
		case offTarget[i] && (c.Status != report.Warn || !strings.Contains(c.Message, "not settable here")):
			t.Errorf("%s: %s %q, want a warning saying not settable here", c.ID, c.Status, c.Message)
		case !offTarget[i] && c.Status != report.Pass:
			t.Errorf("%s: %s %q, want pass", c.ID, c.Status, c.Message)
		}
	}
	t.Logf("%s %s: %s", got[1].ID, got[1].Status, got[1].Message)
}
