package provision

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/redisconf"
)

// File is one rendered file and the mode and owner it must have.
type File struct {
	Path    string
	Mode    os.FileMode
	Owner   string
	Group   string
	Content []byte
	// Secret marks files that hold the password: their diffs are redacted.
	Secret bool
	// Kind says what the file is: conf, unit, sysctl, thp-unit, logrotate.
	Kind string
	// Port is the node a conf or unit file belongs to (0 otherwise).
	Port int
}

// File kinds.
const (
	KindConf      = "conf"
	KindUnit      = "unit"
	KindSysctl    = "sysctl"
	KindTHPUnit   = "thp-unit"
	KindLogrotate = "logrotate"
)

// THPUnitName is the oneshot unit that turns transparent huge pages off at
// boot (the seed's rc.local did this; rc.local is not run by default on
// modern distributions).
const THPUnitName = "slotshift-thp-never.service"

// Dir is a directory provision creates, with its mode and owner.
type Dir struct {
	Path  string
	Mode  os.FileMode
	Owner string
	Group string
	// CreateOnly dirs are system directories (e.g. /etc/logrotate.d):
	// created when missing, never re-owned.
	CreateOnly bool
}

// NodeLayout is where one node's files live on its server.
type NodeLayout struct {
	Port       int
	ConfDir    string // Config/<port>
	Conf       string // Config/<port>/redis_<port>.conf
	NodesConf  string // Config/<port>/nodes_<port>.conf (owned by Redis)
	DataDir    string // Data/<port>
	LogFile    string // Log/redis_<port>.log
	PidFile    string
	Unit       string // redis_<port>.service
	RuntimeDir string // systemd RuntimeDirectory= (relative to /run), or ""
}

// LayoutOf returns the layout of the node on port under s.
func LayoutOf(s Settings, port int) NodeLayout {
	p := strconv.Itoa(port)
	l := NodeLayout{
		Port:      port,
		ConfDir:   path.Join(s.Paths.Config, p),
		Conf:      path.Join(s.Paths.Config, p, "redis_"+p+".conf"),
		NodesConf: path.Join(s.Paths.Config, p, "nodes_"+p+".conf"),
		DataDir:   path.Join(s.Paths.Data, p),
		LogFile:   path.Join(s.Paths.Log, "redis_"+p+".log"),
		PidFile:   path.Join(s.Paths.Run, "redis_"+p+".pid"),
		Unit:      "redis_" + p + ".service",
	}
	// Under systemd each node gets its own RuntimeDirectory: systemd removes
	// a unit's RuntimeDirectory when that unit stops, so a directory shared
	// by two units (the seed's "redis") loses the other node's pid file, and
	// an absolute path (the seed's second unit) is rejected outright.
	if s.Service != ServiceDaemon {
		if rel, ok := underRun(s.Paths.Run); ok {
			l.RuntimeDir = rel + "-" + p
			l.PidFile = path.Join("/run", l.RuntimeDir, "redis_"+p+".pid")
		}
	}
	return l
}

// underRun reports the part of dir below /run (or /var/run, its symlink).
func underRun(dir string) (string, bool) {
	dir = path.Clean(dir)
	for _, prefix := range []string{"/run/", "/var/run/"} {
		if rel, ok := strings.CutPrefix(dir, prefix); ok && rel != "" {
			return rel, true
		}
	}
	return "", false
}

// Render returns the files of server under inv's provision settings, with
// service "auto" rendered as systemd. It does no I/O.
func Render(inv *inventory.Inventory, server inventory.Server, password string) ([]File, error) {
	return RenderWith(inv, server, password, SettingsFor(inv, System{}))
}

// RenderWith is Render with explicit settings (service already resolved).
func RenderWith(inv *inventory.Inventory, server inventory.Server, password string, s Settings) ([]File, error) {
	if password == "" {
		return nil, fmt.Errorf("render %s: empty password: requirepass and masterauth need one", server.Name)
	}
	systemd := s.Service != ServiceDaemon
	files, err := tlsFiles(inv, s)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", server.Name, err)
	}
	for _, n := range server.Nodes {
		l := LayoutOf(s, n.Port)
		conf, err := renderConf(inv, server, l, s, password)
		if err != nil {
			return nil, fmt.Errorf("render %s:%d: %w", server.Name, n.Port, err)
		}
		files = append(files, File{Path: l.Conf, Mode: 0o640, Owner: s.User, Group: s.Group,
			Content: conf, Secret: true, Kind: KindConf, Port: n.Port})
		if systemd {
			files = append(files, File{Path: path.Join(s.System.UnitDir, l.Unit), Mode: 0o644,
				Owner: "root", Group: "root", Content: renderUnit(server, l, s), Kind: KindUnit, Port: n.Port})
		}
	}
	if s.KernelTuning {
		files = append(files, File{Path: path.Join(s.System.SysctlDir, "60-slotshift-redis.conf"),
			Mode: 0o644, Owner: "root", Group: "root", Content: []byte(sysctlConf), Kind: KindSysctl})
		if systemd {
			files = append(files, File{Path: path.Join(s.System.UnitDir, THPUnitName), Mode: 0o644,
				Owner: "root", Group: "root", Content: []byte(thpUnit), Kind: KindTHPUnit})
		}
	}
	files = append(files, File{Path: path.Join(s.System.LogrotateDir, "slotshift-redis"), Mode: 0o644,
		Owner: "root", Group: "root", Content: renderLogrotate(s), Kind: KindLogrotate})
	if s.RedisExporter && systemd {
		exp, err := renderExporters(inv, server, password, s)
		return append(files, exp...), err
	}
	return files, nil
}

// Dirs returns the directories server needs under s, parents first.
func Dirs(server inventory.Server, s Settings) []Dir {
	own := func(p string, mode os.FileMode) Dir { return Dir{Path: p, Mode: mode, Owner: s.User, Group: s.Group} }
	out := []Dir{own(s.Paths.Config, 0o750), own(s.Paths.Data, 0o750), own(s.Paths.Log, 0o750)}
	if s.TLS != nil {
		out = append(out, own(TLSDir(s), 0o700))
	}
	runDir := false
	for _, n := range server.Nodes {
		l := LayoutOf(s, n.Port)
		// Redis writes nodes_<port>.conf next to the conf, so the conf
		// directory belongs to the redis user too.
		out = append(out, own(l.ConfDir, 0o750), own(l.DataDir, 0o750))
		if l.RuntimeDir == "" {
			runDir = true
		}
	}
	if runDir {
		out = append(out, own(s.Paths.Run, 0o755))
	}
	sys := func(p string) Dir { return Dir{Path: p, Mode: 0o755, Owner: "root", Group: "root", CreateOnly: true} }
	if s.Service != ServiceDaemon {
		out = append(out, sys(s.System.UnitDir))
	}
	if s.KernelTuning {
		out = append(out, sys(s.System.SysctlDir))
	}
	return append(out, sys(s.System.LogrotateDir))
}

// managed are the directives provision owns; redis_config may not set them
// because the layout, the cluster and the password depend on them.
var managed = map[string]bool{
	"port": true, "bind": true, "dir": true, "cluster-enabled": true,
	"cluster-config-file": true, "pidfile": true, "logfile": true,
	"requirepass": true, "masterauth": true, "daemonize": true,
	"supervised": true, "cluster-node-timeout": true, "include": true,
	"tls-port": true, "tls-cert-file": true, "tls-key-file": true, "tls-ca-cert-file": true,
	"tls-cluster": true, "tls-replication": true, "user": true, "masteruser": true, "aclfile": true,
}

func renderConf(inv *inventory.Inventory, server inventory.Server, l NodeLayout, s Settings, password string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Managed by slotshift: the next provision overwrites local edits.\n")
	b.WriteString("# daemonize/supervised are given on the command line by the service manager.\n")
	kv := func(k, v string) { fmt.Fprintf(&b, "%s %s\n", k, v) }
	confListen(kv, inv, s, l.Port)
	kv("bind", bindFor(server.Address))
	kv("dir", l.DataDir)
	kv("cluster-enabled", "yes")
	kv("cluster-node-timeout", strconv.Itoa(s.NodeTimeoutMS))
	kv("cluster-config-file", l.NodesConf)
	kv("pidfile", l.PidFile)
	kv("logfile", l.LogFile)
	kv("requirepass", redisconf.Quote(password))
	kv("masterauth", redisconf.Quote(password))
	confUser(kv, s, password)
	defaults := map[string]string{"loglevel": "notice", "appendonly": "no", "protected-mode": "no"}
	extra := map[string]string{}
	for k, v := range inv.Cluster.RedisConfig {
		key := strings.ToLower(strings.TrimSpace(k))
		if managed[key] {
			return nil, fmt.Errorf("redis_config %q is set by provision and may not be overridden", k)
		}
		if key == "" || strings.ContainsAny(key, " \t\r\n\"'") || strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("redis_config %q: invalid directive", k)
		}
		extra[key] = v
	}
	for _, k := range []string{"loglevel", "appendonly", "protected-mode"} {
		if v, ok := extra[k]; ok {
			kv(k, v)
			delete(extra, k)
		} else {
			kv(k, defaults[k])
		}
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		b.WriteString("# cluster.redis_config\n")
	}
	for _, k := range keys {
		kv(k, extra[k])
	}
	return b.Bytes(), nil
}

// bindFor binds the server's own address (where the cluster reaches it)
// and loopback (for local tools); a host name cannot be bound, so it falls
// back to every interface, which requirepass still guards.
func bindFor(addr string) string {
	ip := net.ParseIP(addr)
	switch {
	case ip == nil:
		return "* -::*"
	case ip.IsLoopback():
		return ip.String()
	default:
		return ip.String() + " 127.0.0.1"
	}
}

func renderUnit(server inventory.Server, l NodeLayout, s Settings) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Managed by slotshift.
[Unit]
Description=Redis Cluster node %s:%d
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
ExecStart=%s %s --supervised systemd --daemonize no
# Stopping relies on systemd's SIGTERM, on which Redis shuts down cleanly:
# no stop command, so no password on any command line.
User=%s
Group=%s
`, server.Name, l.Port, s.System.RedisServer, l.Conf, s.User, s.Group)
	if l.RuntimeDir != "" {
		fmt.Fprintf(&b, "RuntimeDirectory=%s\nRuntimeDirectoryMode=0755\n", l.RuntimeDir)
	}
	b.WriteString(`LimitNOFILE=65535
TimeoutStopSec=120

[Install]
WantedBy=multi-user.target
`)
	return b.Bytes()
}

const sysctlConf = `# Managed by slotshift.
# Background saves and replication fork(); without overcommit a fork of a
# large Redis can fail under memory pressure.
vm.overcommit_memory = 1
# The accept backlog caps Redis' tcp-backlog.
net.core.somaxconn = 65535
`

const thpUnit = `# Managed by slotshift.
# Transparent huge pages add latency and memory to fork() copy-on-write.
[Unit]
Description=Disable transparent huge pages for Redis
DefaultDependencies=no
After=sysinit.target local-fs.target
Before=basic.target
ConditionPathExists=/sys/kernel/mm/transparent_hugepage/enabled
# A container's /sys is read-only: its machine's kernel decides.
ConditionPathIsReadWrite=/sys/kernel/mm/transparent_hugepage/enabled

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo never > /sys/kernel/mm/transparent_hugepage/enabled'

[Install]
WantedBy=basic.target
`

func renderLogrotate(s Settings) []byte {
	// Redis opens its log file anew for every line it writes, so a plain
	// rename rotates safely: no copytruncate, no signal.
	return []byte(fmt.Sprintf(`# Managed by slotshift.
%s/redis_*.log {
    su %s %s
    weekly
    maxsize 100M
    rotate 12
    missingok
    notifempty
    compress
    delaycompress
}
`, s.Paths.Log, s.User, s.Group))
}
