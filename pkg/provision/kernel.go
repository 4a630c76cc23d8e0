package provision

import (
	"context"
	"fmt"
	"strings"

	"github.com/slotshift/slotshift/pkg/report"
)

// States of a kernel setting, as kernelTuneScript prints them.
const (
	tuneOK       = "ok"       // already as wanted
	tuneSet      = "set"      // changed now
	tuneReadOnly = "readonly" // not writable here: the kernel is not this host's to tune
	tuneMissing  = "missing"  // this kernel has no such setting
	tuneFailed   = "failed"   // writable, but the write failed
)

// kernelSetting is one line of kernelTuneScript's output.
type kernelSetting struct {
	name    string // vm.overcommit_memory, net.core.somaxconn or thp
	state   string // one of the tune* states
	current string // the value before the script ran; "-" when missing
	detail  string // the error of a failed write
}

// kernelWant is what provision sets each setting to, in the words of a
// finding.
var kernelWant = map[string]string{
	"vm.overcommit_memory": "1",
	"net.core.somaxconn":   "65535",
	"thp":                  "never",
}

// kernelFix is the command that sets each setting by hand.
var kernelFix = map[string]string{
	"vm.overcommit_memory": "sysctl -w vm.overcommit_memory=1",
	"net.core.somaxconn":   "sysctl -w net.core.somaxconn=65535",
	"thp":                  "echo never > /sys/kernel/mm/transparent_hugepage/enabled",
}

// kernelLabel names a setting in a finding.
func kernelLabel(name string) string {
	if name == "thp" {
		return "transparent huge pages"
	}
	return name
}

// parseKernelTune reads kernelTuneScript's output; lines of another form
// are skipped. It does no I/O.
func parseKernelTune(out string) []kernelSetting {
	var sets []kernelSetting
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(strings.TrimSpace(line), " ", 4)
		if len(f) < 3 {
			continue
		}
		s := kernelSetting{name: f[0], state: f[1], current: f[2]}
		if len(f) == 4 {
			s.detail = strings.TrimSpace(f[3])
		}
		sets = append(sets, s)
	}
	return sets
}

// kernelFindings turns the settings of one host into at most two
// warnings: one for every setting this host does not allow to change (with
// its current value: the machine that runs the kernel decides it), one for
// every write that failed. A setting already as wanted, or set now, is no
// finding. It does no I/O.
func kernelFindings(host string, sets []kernelSetting) []report.Check {
	var ro, failed, fixes []string
	observed := map[string]string{}
	for _, s := range sets {
		switch s.state {
		case tuneReadOnly:
			ro = append(ro, fmt.Sprintf("%s = %s (want %s)", kernelLabel(s.name), s.current, kernelWant[s.name]))
			observed[s.name] = s.current
			fixes = append(fixes, kernelFix[s.name])
		case tuneFailed, tuneMissing:
			if s.state == tuneMissing && s.name == "thp" {
				continue // a kernel without transparent huge pages: nothing to turn off
			}
			msg := fmt.Sprintf("%s = %s: %s", kernelLabel(s.name), s.current, s.state)
			if s.detail != "" {
				msg += ": " + s.detail
			}
			failed = append(failed, msg)
		}
	}
	var out []report.Check
	if len(ro) > 0 {
		out = append(out, report.Check{ID: IDKernel, Status: report.Warn, Node: host, Observed: observed,
			Message: "kernel settings not settable here (read-only on this host: a container runs its machine's kernel): " +
				strings.Join(ro, ", "),
			Hint: "set them on the machine that runs this host's kernel (" + strings.Join(fixes, "; ") +
				"), or set provision.kernel_tuning: false"})
	}
	if len(failed) > 0 {
		out = append(out, report.Check{ID: IDKernel, Status: report.Warn, Node: host,
			Message: "kernel settings not applied: " + strings.Join(failed, "; ")})
	}
	return out
}

// IDKernel is the id of provision's kernel tuning findings.
const IDKernel = "provision.kernel"

// tuneKernel applies the kernel settings now; the sysctl file and the THP
// unit written later persist them. A host that does not allow a setting
// gets one finding naming each such setting with its current value.
func (sr *serverRun) tuneKernel(ctx context.Context) {
	if !sr.s.KernelTuning {
		return
	}
	sr.res.Commands = append(sr.res.Commands, kernelTuneScript)
	if sr.opts.DryRun {
		return
	}
	name := sr.server.Name
	out, err := sr.query(ctx, kernelTuneScript)
	if err != nil {
		sr.add(IDKernel, report.Warn, name, "kernel settings: "+err.Error())
		return
	}
	sets := parseKernelTune(out)
	for _, c := range kernelFindings(name, sets) {
		added := sr.add(c.ID, c.Status, c.Node, c.Message)
		added.Observed, added.Hint = c.Observed, c.Hint
	}
	if sr.s.Service == ServiceSystemd {
		return
	}
	for _, s := range sets {
		if s.name == "thp" && (s.state == tuneSet || s.state == tuneOK) {
			sr.add(IDKernel, report.Warn, name, "transparent huge pages set now but not persisted: no systemd")
		}
	}
}
