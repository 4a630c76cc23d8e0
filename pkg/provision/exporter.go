package provision

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

// File kinds of provision.redis_exporter.
const (
	KindExporterUnit = "exporter-unit"
	KindExporterEnv  = "exporter-env"
)

// ExporterLayout is where one node's redis_exporter files live.
type ExporterLayout struct {
	Port   int    // the node's Redis port
	Listen string // -web.listen-address, host:port
	Unit   string // redis_exporter_<port>.service
	Env    string // Config/<port>/redis_exporter_<port>.env: the password
}

// ExporterLayoutOf returns the exporter layout of the node on port, which
// listens on exporterPort at the server's address.
func ExporterLayoutOf(s Settings, server inventory.Server, port, exporterPort int) ExporterLayout {
	p := strconv.Itoa(port)
	return ExporterLayout{
		Port:   port,
		Listen: net.JoinHostPort(listenHost(server.Address), strconv.Itoa(exporterPort)),
		Unit:   "redis_exporter_" + p + ".service",
		Env:    path.Join(s.Paths.Config, p, "redis_exporter_"+p+".env"),
	}
}

// listenHost is where an exporter listens: the server's own address (where
// Prometheus scrapes it), or every interface when that is a host name.
func listenHost(addr string) string {
	if net.ParseIP(addr) == nil {
		return ""
	}
	return addr
}

// exporterPorts maps each node port of server to its exporter port, as
// inventory.ExporterPorts derives them (the monitoring command's targets
// use the same ports).
func exporterPorts(inv *inventory.Inventory, server inventory.Server) map[int]int {
	ports := inv.ExporterPorts()
	out := map[int]int{}
	for i, r := range inv.Nodes() {
		if r.Server == server.Name {
			out[r.Port] = ports[i]
		}
	}
	return out
}

// renderExporters returns, per node of server, the exporter's systemd unit
// and its environment file. The password is only in the environment file
// (root's, mode 0600, read by systemd): never in the unit, never in argv.
func renderExporters(inv *inventory.Inventory, server inventory.Server, password string, s Settings) ([]File, error) {
	if strings.ContainsAny(password, "\n\r\x00") {
		return nil, fmt.Errorf("render %s: the password cannot go in an environment file: it has a line break or NUL", server.Name)
	}
	eports := exporterPorts(inv, server)
	var files []File
	for _, n := range server.Nodes {
		l := ExporterLayoutOf(s, server, n.Port, eports[n.Port])
		files = append(files,
			File{Path: l.Env, Mode: 0o600, Owner: "root", Group: "root", Secret: true, Kind: KindExporterEnv, Port: n.Port,
				Content: []byte("# Managed by slotshift: read by systemd for " + l.Unit + ".\n" + passwordEnv + "=" + envQuote(password) + "\n")},
			File{Path: path.Join(s.System.UnitDir, l.Unit), Mode: 0o644, Owner: "root", Group: "root", Kind: KindExporterUnit, Port: n.Port,
				Content: renderExporterUnit(server, l, s)})
	}
	return files, nil
}

// passwordEnv is the variable redis_exporter reads its password from.
const passwordEnv = "REDIS_PASSWORD"

// envQuote quotes v for a systemd environment file: single quotes keep
// everything literal; a value with a single quote goes in double quotes,
// where only backslash, double quote and dollar need escaping.
func envQuote(v string) string {
	if !strings.Contains(v, "'") {
		return "'" + v + "'"
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`).Replace(v) + `"`
}

func renderExporterUnit(server inventory.Server, l ExporterLayout, s Settings) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Managed by slotshift.
[Unit]
Description=Prometheus redis_exporter for Redis Cluster node %s:%d
After=network-online.target redis_%d.service
Wants=network-online.target

[Service]
# The password comes from the environment file, so that it is on no
# command line and in no world-readable file. -include-system-metrics gives
# the memory alert of 'slotshift monitoring' the machine's memory when
# maxmemory is 0.
EnvironmentFile=%s
ExecStart=%s -redis.addr redis://127.0.0.1:%d -web.listen-address %s -include-system-metrics
DynamicUser=yes
NoNewPrivileges=yes
Restart=on-failure
RestartSec=5s

[Install]
WantedBy=multi-user.target
`, server.Name, l.Port, l.Port, l.Env, s.System.RedisExporter, l.Port, l.Listen)
	return b.Bytes()
}

// aptInstallExporterCmd installs the distribution's redis_exporter.
const aptInstallExporterCmd = "DEBIAN_FRONTEND=noninteractive apt-get update -q && " +
	"DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus-redis-exporter"

// disableDefaultExporterCmd stops the package's own exporter: it scrapes
// localhost:6379, which is no node, and holds port 9121, the first
// exporter port.
const disableDefaultExporterCmd = "if systemctl is-enabled --quiet prometheus-redis-exporter.service 2>/dev/null; " +
	"then systemctl disable --now prometheus-redis-exporter.service; fi"

// startExporterCmd enables unit and starts it, or restarts it when its
// unit or environment file changed.
func startExporterCmd(unit string, changed bool) string {
	verb := "start"
	if changed {
		verb = "restart"
	}
	return enableCmd(unit) + " && systemctl " + verb + " " + unit
}

// installExporter installs prometheus-redis-exporter when the inventory
// asks for exporters, it is missing and install is apt; under systemd it
// disables the package's default instance.
func (sr *serverRun) installExporter(ctx context.Context, installed bool) error {
	if !sr.s.RedisExporter {
		return nil
	}
	name := sr.server.Name
	if sr.s.Service != ServiceSystemd {
		sr.add("provision.exporter", report.Warn, name, "provision.redis_exporter needs systemd; no exporter set up")
		return nil
	}
	if !installed {
		if sr.s.Install != InstallApt {
			c := sr.add("provision.exporter", report.Fail, name, "prometheus-redis-exporter is not installed and install is "+sr.s.Install)
			c.Hint = "install prometheus-redis-exporter, or set provision.install: apt"
			return errStopped
		}
		if err := sr.mutate(ctx, aptInstallExporterCmd); err != nil {
			sr.add("provision.exporter", report.Fail, name, err.Error())
			return errStopped
		}
		sr.add("provision.exporter", report.Pass, name, "prometheus-redis-exporter installed")
	}
	if sr.s.Install == InstallApt {
		if err := sr.mutate(ctx, disableDefaultExporterCmd); err != nil {
			sr.add("provision.exporter", report.Warn, name, "disable default prometheus-redis-exporter.service: "+err.Error())
		}
	}
	return nil
}

// startExporters enables and (re)starts each node's exporter unit: a
// restart when its unit or environment file changed, so that a new
// password or port takes effect.
func (sr *serverRun) startExporters(ctx context.Context, files []File, changed map[string]bool) {
	if !sr.s.RedisExporter || sr.s.Service != ServiceSystemd {
		return
	}
	eports := exporterPorts(sr.inv, sr.server)
	units, listen := map[int]string{}, map[int]string{}
	dirty := map[int]bool{}
	var order []int
	for _, f := range files {
		switch f.Kind {
		case KindExporterUnit:
			l := ExporterLayoutOf(sr.s, sr.server, f.Port, eports[f.Port])
			units[f.Port], listen[f.Port] = l.Unit, l.Listen
			order = append(order, f.Port)
		case KindExporterEnv:
		default:
			continue
		}
		dirty[f.Port] = dirty[f.Port] || changed[f.Path]
	}
	for _, p := range order {
		if err := sr.mutate(ctx, startExporterCmd(units[p], dirty[p])); err != nil {
			sr.add("provision.exporter", report.Fail, sr.nodeAddr(p), "start "+units[p]+": "+err.Error())
			continue
		}
		verb := "started"
		if sr.opts.DryRun {
			verb = "would start"
		}
		sr.add("provision.exporter", report.Pass, sr.nodeAddr(p), fmt.Sprintf("%s %s on %s", verb, units[p], listen[p]))
	}
}
