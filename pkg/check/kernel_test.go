package check

import (
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/report"
)

func TestKernelVerdicts(t *testing.T) {
	type want struct {
		thp, overcommit, somaxconn report.Status
	}
	cases := []struct {
		name string
		out  string
		want want
	}{
		{"tuned", "always madvise [never]\n1\n65535\n", want{report.Pass, report.Pass, report.Pass}},
		{"distribution defaults", "always [madvise] never\n0\n4096\n", want{report.Warn, report.Fail, report.Warn}},
		{"thp always", "[always] madvise never\n1\n65535\n", want{report.Fail, report.Pass, report.Pass}},
		{"overcommit never", "always madvise [never]\n2\n65535\n", want{report.Pass, report.Fail, report.Pass}},
		{"somaxconn old default", "always madvise [never]\n1\n128\n", want{report.Pass, report.Pass, report.Fail}},
		{"somaxconn at the floor", "always madvise [never]\n1\n511\n", want{report.Pass, report.Pass, report.Warn}},
		{"somaxconn above recommended", "always madvise [never]\n1\n1048576", want{report.Pass, report.Pass, report.Pass}},
		{"no thp support", "unavailable\n1\n65535\n", want{report.Warn, report.Pass, report.Pass}},
		{"garbage", "what\nnope\n", want{report.Error, report.Error, report.Error}},
		{"empty", "", want{report.Error, report.Error, report.Error}},
		{"crlf and spaces", " always madvise [never] \r\n 1\r\n65535\r\n", want{report.Pass, report.Pass, report.Pass}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := KernelVerdicts("s1", tc.out)
			if len(got) != 3 {
				t.Fatalf("got %d checks, want 3: %+v", len(got), got)
			}
			ids := []string{IDKernelTHP, IDKernelOvercommit, IDKernelSomaxconn}
			statuses := []report.Status{tc.want.thp, tc.want.overcommit, tc.want.somaxconn}
			for i, c := range got {
				if c.ID != ids[i] || c.Status != statuses[i] || c.Node != "s1" {
					t.Errorf("check %d = %s %s node %q (%s), want %s %s node s1", i, c.ID, c.Status, c.Node, c.Message, ids[i], statuses[i])
				}
				if c.Observed == nil {
					t.Errorf("%s: no observed value", c.ID)
				}
			}
		})
	}
}

func TestKernelVerdictsObserved(t *testing.T) {
	got := KernelVerdicts("s1", "always [madvise] never\n0\n300\n")
	if got[0].Observed != "madvise" || got[0].Threshold != "never" {
		t.Errorf("thp observed/threshold = %v/%v", got[0].Observed, got[0].Threshold)
	}
	if got[1].Observed != 0 || got[1].Threshold != 1 {
		t.Errorf("overcommit observed/threshold = %v/%v", got[1].Observed, got[1].Threshold)
	}
	if got[2].Observed != 300 || got[2].Threshold != minSomaxconn {
		t.Errorf("somaxconn observed/threshold = %v/%v", got[2].Observed, got[2].Threshold)
	}
}

func TestSelectedTHP(t *testing.T) {
	for in, want := range map[string]string{
		"always madvise [never]": "never",
		"always [madvise] never": "madvise",
		"[always] madvise never": "always",
		"never":                  "never",
		"unavailable":            "unavailable",
		"always madvise never":   "",
		"[]":                     "",
		"":                       "",
	} {
		if got := SelectedTHP(in); got != want {
			t.Errorf("SelectedTHP(%q) = %q, want %q", in, got, want)
		}
	}
}

// containerMounts is what /proc/self/mountinfo shows under /proc and /sys
// inside systemd-nspawn with a private network: /proc/sys read-only but
// its own /proc/sys/net, and a read-only sysfs mounted over the first.
const containerMounts = "mount /proc rw,nosuid,nodev,noexec,relatime\nmount /proc/sys ro,nosuid,nodev,noexec,relatime\n" +
	"mount /proc/sys/net rw,nosuid,nodev,noexec,relatime\nmount /sys rw,relatime\nmount /sys ro,nosuid,nodev,noexec,relatime\n"

func TestKernelVerdictsNotSettable(t *testing.T) {
	cases := []struct {
		name     string
		out      string
		want     []report.Status
		settable []bool // false: the message must say "not settable here"
	}{
		{"container, host untuned", "always [madvise] never\n0\n4096\n" + containerMounts,
			[]report.Status{report.Warn, report.Warn, report.Warn}, []bool{false, false, true}},
		{"container, always and a tiny backlog", "[always] madvise never\n2\n128\n" + containerMounts,
			[]report.Status{report.Warn, report.Warn, report.Fail}, []bool{false, false, true}},
		{"container, host tuned", "always madvise [never]\n1\n65535\n" + containerMounts,
			[]report.Status{report.Pass, report.Pass, report.Pass}, []bool{true, true, true}},
		{"a machine: all writable", "always [madvise] never\n0\n4096\nmount /proc rw\nmount /sys rw\n",
			[]report.Status{report.Warn, report.Fail, report.Warn}, []bool{true, true, true}},
		{"read-only root covers all", "[always] madvise never\n0\n128\nmount / ro\n",
			[]report.Status{report.Warn, report.Warn, report.Warn}, []bool{false, false, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := KernelVerdicts("s1", tc.out)
			if len(got) != 3 {
				t.Fatalf("got %d checks: %+v", len(got), got)
			}
			for i, c := range got {
				if c.Status != tc.want[i] {
					t.Errorf("%s: %s (%s), want %s", c.ID, c.Status, c.Message, tc.want[i])
				}
				if said := strings.Contains(c.Message, "not settable here"); said == tc.settable[i] {
					t.Errorf("%s: message %q, settable here: %v", c.ID, c.Message, tc.settable[i])
				}
				if !tc.settable[i] && (c.Observed == nil || !strings.Contains(c.Hint, "machine that runs")) {
					t.Errorf("%s: observed %v, hint %q: want the current value and where to set it", c.ID, c.Observed, c.Hint)
				}
			}
		})
	}
}

func TestReadOnlyAt(t *testing.T) {
	mounts := []mount{{"/", "rw"}, {"/proc", "rw"}, {"/proc/sys", "ro"}, {"/proc/sys/net", "rw"}, {"/sys", "rw"}, {"/sys", "ro"}, {"/sysx", "rw"}}
	for path, want := range map[string]bool{
		"/proc/sys/vm/overcommit_memory":              true,
		"/proc/sys/net/core/somaxconn":                false,
		"/proc/sys":                                   true,
		"/proc/sysrq-trigger":                         false,
		"/sys/kernel/mm/transparent_hugepage/enabled": true,
		"/sysx/a":    false,
		"/etc/hosts": false,
	} {
		if got := readOnlyAt(mounts, path); got != want {
			t.Errorf("readOnlyAt(%s) = %v, want %v", path, got, want)
		}
	}
	if readOnlyAt(nil, "/proc/sys/vm/overcommit_memory") {
		t.Error("no mounts known: must count as settable")
	}
}
