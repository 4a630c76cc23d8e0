package provision

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/report"
)

func TestParseKernelTune(t *testing.T) {
	out := "vm.overcommit_memory readonly 0\nnet.core.somaxconn set 4096\n" +
		"thp failed madvise sh: 1: cannot create x: Permission denied \n\nnoise\n"
	got := parseKernelTune(out)
	want := []kernelSetting{
		{name: "vm.overcommit_memory", state: tuneReadOnly, current: "0"},
		{name: "net.core.somaxconn", state: tuneSet, current: "4096"},
		{name: "thp", state: tuneFailed, current: "madvise", detail: "sh: 1: cannot create x: Permission denied"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestKernelFindings(t *testing.T) {
	cases := []struct {
		name string
		sets []kernelSetting
		want []string // one substring per finding, in order
	}{
		{"all tuned", []kernelSetting{{"vm.overcommit_memory", tuneOK, "1", ""},
			{"net.core.somaxconn", tuneSet, "4096", ""}, {"thp", tuneSet, "always", ""}}, nil},
		{"container: one finding with every read-only setting", []kernelSetting{{"vm.overcommit_memory", tuneReadOnly, "0", ""},
			{"net.core.somaxconn", tuneSet, "4096", ""}, {"thp", tuneReadOnly, "madvise", ""}},
			[]string{"not settable here (read-only on this host: a container runs its machine's kernel): " +
				"vm.overcommit_memory = 0 (want 1), transparent huge pages = madvise (want never)"}},
		{"a failed write is its own finding", []kernelSetting{{"vm.overcommit_memory", tuneReadOnly, "2", ""},
			{"net.core.somaxconn", tuneFailed, "128", "sysctl: Invalid argument"}},
			[]string{"vm.overcommit_memory = 2 (want 1)", "not applied: net.core.somaxconn = 128: failed: sysctl: Invalid argument"}},
		{"no transparent huge pages is no finding", []kernelSetting{{"thp", tuneMissing, "-", ""}}, nil},
		{"a missing sysctl is", []kernelSetting{{"net.core.somaxconn", tuneMissing, "-", ""}},
			[]string{"not applied: net.core.somaxconn = -: missing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := kernelFindings("s1", tc.sets)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d findings %+v, want %d", len(got), got, len(tc.want))
			}
			for i, c := range got {
				if c.ID != IDKernel || c.Status != report.Warn || c.Node != "s1" || !strings.Contains(c.Message, tc.want[i]) {
					t.Errorf("finding %d = %s %s %s %q, want a %s warn on s1 with %q", i, c.ID, c.Status, c.Node, c.Message, IDKernel, tc.want[i])
				}
			}
			if len(got) > 0 && strings.Contains(got[0].Message, "not settable") {
				obs, _ := got[0].Observed.(map[string]string)
				for _, s := range tc.sets {
					if s.state == tuneReadOnly && obs[s.name] != s.current {
						t.Errorf("observed %v, want %s = %s", got[0].Observed, s.name, s.current)
					}
				}
				if !strings.Contains(got[0].Hint, "kernel_tuning: false") {
					t.Errorf("hint %q names no way out", got[0].Hint)
				}
			}
		})
	}
}

// readSetting returns what the tune script reports as a setting's value
// on this machine: the file's content, the selected mode for THP.
func readSetting(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return "-"
	}
	s := strings.TrimSpace(string(b))
	if i, j := strings.Index(s, "["), strings.Index(s, "]"); i >= 0 && j > i {
		return s[i+1 : j]
	}
	return s
}

// TestKernelTuneScriptLikeAContainer runs the script as root the way it
// runs inside systemd-nspawn: a private network namespace whose
// /proc/sys/net is writable, /proc/sys and /sys read-only. Only the
// namespace's somaxconn can change, and that namespace goes away with the
// shell; the machine's own settings are never written.
func TestKernelTuneScriptLikeAContainer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for mount and network namespaces")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed")
	}
	// The script runs only when every mount succeeded (&&), and checks
	// itself that it cannot write overcommit_memory.
	container := "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && " +
		"mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net && " +
		"mount --bind /sys /sys && mount -o remount,bind,ro /sys && " +
		"! [ -w /proc/sys/vm/overcommit_memory ] && eval \"$0\" && echo '--' && eval \"$0\""
	out, err := exec.Command("unshare", "-m", "-n", "--propagation", "private", "sh", "-c", container, kernelTuneScript).CombinedOutput()
	if err != nil {
		t.Skipf("cannot build the namespaces here: %v\n%s", err, out)
	}
	first, second, _ := strings.Cut(string(out), "--\n")
	overcommit := readSetting(t, "/proc/sys/vm/overcommit_memory")
	thp := readSetting(t, "/sys/kernel/mm/transparent_hugepage/enabled")
	wantState := func(cur, want string) string {
		switch cur {
		case want:
			return tuneOK
		case "-":
			return tuneMissing
		}
		return tuneReadOnly
	}
	for run, want := range map[string]map[string]string{
		first:  {"vm.overcommit_memory": wantState(overcommit, "1"), "net.core.somaxconn": tuneSet, "thp": wantState(thp, "never")},
		second: {"vm.overcommit_memory": wantState(overcommit, "1"), "net.core.somaxconn": tuneOK, "thp": wantState(thp, "never")},
	} {
		sets := parseKernelTune(run)
		if len(sets) != 3 {
			t.Fatalf("want 3 settings, got %+v from\n%s", sets, out)
		}
		for _, s := range sets {
			if s.state != want[s.name] {
				t.Errorf("%s: state %s, want %s (output:\n%s)", s.name, s.state, want[s.name], run)
			}
		}
		if sets[0].current != overcommit || sets[2].current != thp {
			t.Errorf("current values %s, %s; this machine has %s, %s", sets[0].current, sets[2].current, overcommit, thp)
		}
	}
	if sets := parseKernelTune(second); sets[1].current != "65535" {
		t.Errorf("somaxconn after the first run: %s, want 65535", sets[1].current)
	}
	findings := kernelFindings("s1", parseKernelTune(first))
	if overcommit != "1" {
		if len(findings) != 1 || !strings.Contains(findings[0].Message, "vm.overcommit_memory = "+overcommit+" (want 1)") {
			t.Errorf("findings %+v, want one naming overcommit_memory = %s", findings, overcommit)
		}
	}
	if got := readSetting(t, "/proc/sys/vm/overcommit_memory"); got != overcommit {
		t.Fatalf("the machine's overcommit_memory changed: %s → %s", overcommit, got)
	}
}
