package provision

import (
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/tlsconf"
)

// Service managers.
const (
	ServiceSystemd = "systemd"
	ServiceDaemon  = "daemon"
	ServiceAuto    = "auto"
)

// Install modes.
const (
	InstallApt  = "apt"
	InstallSkip = "skip"
)

// System holds the system directories provision writes outside the
// inventory's paths. Zero fields take the defaults; tests point them at
// temporary directories so that nothing under /etc is touched.
type System struct {
	UnitDir      string // default /etc/systemd/system
	SysctlDir    string // default /etc/sysctl.d
	LogrotateDir string // default /etc/logrotate.d
	// RedisServer is the absolute path systemd units start. Default
	// /usr/bin/redis-server (Debian's package).
	RedisServer string
	// RedisExporter is the absolute path exporter units start. Default
	// /usr/bin/prometheus-redis-exporter (Debian's package).
	RedisExporter string
}

func (s System) withDefaults() System {
	if s.UnitDir == "" {
		s.UnitDir = "/etc/systemd/system"
	}
	if s.SysctlDir == "" {
		s.SysctlDir = "/etc/sysctl.d"
	}
	if s.LogrotateDir == "" {
		s.LogrotateDir = "/etc/logrotate.d"
	}
	if s.RedisServer == "" {
		s.RedisServer = "/usr/bin/redis-server"
	}
	if s.RedisExporter == "" {
		s.RedisExporter = "/usr/bin/prometheus-redis-exporter"
	}
	return s
}

// Settings are the provision settings of an inventory with every default
// applied.
type Settings struct {
	// Service is systemd, daemon or auto; Render treats auto as systemd
	// (the engine resolves auto on each host before rendering).
	Service      string
	Install      string
	KernelTuning bool
	User         string
	Group        string
	Paths        inventory.Paths
	// NodeTimeoutMS is cluster-node-timeout. Default 5000.
	NodeTimeoutMS int
	// RedisExporter runs one redis_exporter per node (systemd only).
	RedisExporter bool
	System        System
	// TLS is the material installed on a TLS cluster (cluster.tls); the
	// engine sets it from Options.
	TLS *tlsconf.Material
	// ACLUser is the ACL user created on every node (cluster.user_env);
	// "" = none.
	ACLUser string
}

// SettingsFor returns inv's provision settings with defaults applied.
func SettingsFor(inv *inventory.Inventory, sys System) Settings {
	p := inv.Provision
	s := Settings{
		Service:       p.Service,
		Install:       p.Install,
		KernelTuning:  p.KernelTuning == nil || *p.KernelTuning,
		User:          p.User,
		Group:         p.Group,
		Paths:         p.Paths,
		NodeTimeoutMS: inv.Cluster.NodeTimeoutMS,
		RedisExporter: p.RedisExporter,
		System:        sys.withDefaults(),
	}
	if s.Service == "" {
		s.Service = ServiceAuto
	}
	if s.Install == "" {
		s.Install = InstallApt
	}
	if s.User == "" {
		s.User = "redis"
	}
	if s.Group == "" {
		s.Group = s.User
	}
	if s.Paths.Config == "" {
		s.Paths.Config = "/etc/redis/cluster"
	}
	if s.Paths.Data == "" {
		s.Paths.Data = "/var/lib/redis"
	}
	if s.Paths.Log == "" {
		s.Paths.Log = "/var/log/redis"
	}
	if s.Paths.Run == "" {
		s.Paths.Run = "/var/run/redis"
	}
	if s.NodeTimeoutMS == 0 {
		s.NodeTimeoutMS = 5000
	}
	return s
}
