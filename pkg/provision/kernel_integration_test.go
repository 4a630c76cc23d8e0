package provision_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/provision"
	"github.com/slotshift/slotshift/pkg/provision/sshdtest"
)

// kernelValue reads a kernel setting of this machine as provision reports
// it: the file's value, or the selected mode of a [bracketed] list.
func kernelValue(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("%s: %v", path, err)
	}
	s := strings.TrimSpace(string(b))
	if i, j := strings.Index(s, "["), strings.Index(s, "]"); i >= 0 && j > i {
		return s[i+1 : j]
	}
	return s
}

// TestProvisionKernelNotSettable provisions a server whose sessions see
// /proc/sys and /sys read-only, as inside a container: even root cannot
// change the kernel settings there. The run goes on, and the server gets
// one finding naming each setting it could not change with its value.
func TestProvisionKernelNotSettable(t *testing.T) {
	overcommit := kernelValue(t, "/proc/sys/vm/overcommit_memory")
	somaxconn, _ := strconv.Atoi(kernelValue(t, "/proc/sys/net/core/somaxconn"))
	thp := "never"
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err == nil {
		thp = kernelValue(t, "/sys/kernel/mm/transparent_hugepage/enabled")
	}
	e := newEnv(t, sshdtest.Options{ReadOnly: []string{"/proc/sys", "/sys"}})
	tuning := true
	e.inv.Provision.KernelTuning = &tuning

	_, checks := e.run(t, e.opts())
	noFailures(t, checks)
	var want []string
	if overcommit != "1" {
		want = append(want, "vm.overcommit_memory = "+overcommit+" (want 1)")
	}
	if somaxconn < 65535 {
		want = append(want, "net.core.somaxconn = "+strconv.Itoa(somaxconn)+" (want 65535)")
	}
	if thp != "never" {
		want = append(want, "transparent huge pages = "+thp+" (want never)")
	}
	kernel := find(checks, provision.IDKernel)
	if len(want) == 0 {
		if len(kernel) != 0 {
			t.Errorf("this machine is tuned already, yet: %+v", kernel)
		}
		return
	}
	if len(kernel) != 1 {
		t.Fatalf("want one %s finding for the server, got %d: %+v", provision.IDKernel, len(kernel), kernel)
	}
	c := kernel[0]
	t.Logf("%s %s: %s (hint: %s)", c.ID, c.Status, c.Message, c.Hint)
	if c.Node != "server1" || c.Line != 7 || !strings.Contains(c.Message, "not settable here") {
		t.Errorf("finding %+v: want server1 at line 7 saying not settable here", c)
	}
	if got := c.Message[strings.LastIndex(c.Message, ": ")+2:]; got != strings.Join(want, ", ") {
		t.Errorf("settings named %q, want %q", got, strings.Join(want, ", "))
	}
	for _, raw := range []string{"permission denied", "Read-only file system", "sysctl:", "exit status"} {
		if strings.Contains(strings.ToLower(c.Message), strings.ToLower(raw)) {
			t.Errorf("finding shows a raw shell error (%q): %s", raw, c.Message)
		}
	}
	if got := kernelValue(t, "/proc/sys/vm/overcommit_memory"); got != overcommit {
		t.Fatalf("the machine's overcommit_memory changed: %s → %s", overcommit, got)
	}
	// The setting still persists for a kernel that allows it.
	if _, err := os.Stat(filepath.Join(e.sys.SysctlDir, "60-slotshift-redis.conf")); err != nil {
		t.Errorf("sysctl.d file not written: %v", err)
	}
	// The nodes start anyway, and their logs name the real problems once
	// each, never the start-up banner.
	checkLogWarnings(t, find(checks, "provision.log_warning"), e.ports)
	for _, w := range find(checks, "provision.log_warning") {
		if strings.Contains(w.Message, "Redis version=") || strings.Contains(w.Message, "Server initialized") {
			t.Errorf("banner reported as a warning: %s", w.Message)
		}
	}
}
