package check

import (
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
