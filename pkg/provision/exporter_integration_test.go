package provision_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/provision"
	"github.com/slotshift/slotshift/pkg/report"
)

// TestProvisionExporterDryRunOverSSH runs provision with
// provision.redis_exporter against the real sshd, as a dry run under
// systemd (so that the host's systemd is never touched): it reports one
// exporter unit and one root-only environment file per node, the latter's
// diff with the password masked, the systemctl commands it would run, and
// the password nowhere in the report, the commands or the log (e.run
// checks those); it writes nothing.
func TestProvisionExporterDryRunOverSSH(t *testing.T) {
	e := newEnv(t)
	e.inv.Provision.Service = provision.ServiceSystemd
	e.inv.Provision.RedisExporter = true
	e.inv.Monitoring.ExporterPort = 19121
	sec, checks := e.run(t, e.opts(func(o *provision.Options) { o.DryRun = true }))
	noFailures(t, checks)
	srv := sec.Servers[0]
	modes := map[string]string{}
	for _, f := range srv.Files {
		modes[f.Path] = f.Mode
		if strings.HasSuffix(f.Path, ".env") && !strings.Contains(f.Diff, "+REDIS_PASSWORD="+provision.Mask) {
			t.Errorf("%s: want the masked password line in the diff:\n%s", f.Path, f.Diff)
		}
	}
	cmds := strings.Join(srv.Commands, "\n")
	for i, p := range e.ports {
		ps := strconv.Itoa(p)
		env := filepath.Join(e.inv.Provision.Paths.Config, ps, "redis_exporter_"+ps+".env")
		unit := filepath.Join(e.sys.UnitDir, "redis_exporter_"+ps+".service")
		if modes[env] != "0600" || modes[unit] != "0644" {
			t.Errorf("node %d: env file mode %q, unit mode %q; want 0600 and 0644 (files: %v)", p, modes[env], modes[unit], modes)
		}
		if !strings.Contains(cmds, "systemctl restart redis_exporter_"+ps+".service") {
			t.Errorf("no exporter start for node %d in:\n%s", p, cmds)
		}
		if exists(env) || exists(unit) {
			t.Errorf("dry run wrote %s or %s", env, unit)
		}
		want := "127.0.0.1:" + strconv.Itoa(19121+i)
		if cs := find(checks, "provision.exporter"); !strings.Contains(checksText(cs), want) {
			t.Errorf("no exporter check naming %s: %+v", want, cs)
		}
	}
	if _, err := os.Stat(e.sys.UnitDir); err == nil {
		t.Errorf("dry run created %s", e.sys.UnitDir)
	}
}

func checksText(cs []report.Check) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.Message + "\n")
	}
	return b.String()
}
