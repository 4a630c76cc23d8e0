package inventory

import "time"

// Defaults for fields left out (or zero) in the inventory.
const (
	DefaultPasswordEnv   = "SLOTSHIFT_PASSWORD"
	DefaultNodeTimeoutMS = 5000
	DefaultHoldTimeout   = 10 * time.Minute
	DefaultBatchSlots    = 100
	DefaultThresholdPct  = 2.0
	DefaultBigKeyBytes   = 512 << 20 // rebalance holds a batch on a larger key
	DefaultBigKeyWarn    = 10_000_000
	DefaultBigKeyFail    = 100_000_000
	DefaultBigKeyBudget  = 2 * time.Second
	DefaultBackupMaxAge  = 24 * time.Hour
	DefaultService       = "auto"
	DefaultInstall       = "apt"
	DefaultRedisUser     = "redis"
	DefaultConfigDir     = "/etc/redis/cluster"
	DefaultDataDir       = "/var/lib/redis"
	DefaultLogDir        = "/var/log/redis"
	DefaultRunDir        = "/var/run/redis"
	DefaultSSHUser       = "root"
	DefaultSSHPort       = 22
	BusPortOffset        = 10000 // cluster bus port = port + BusPortOffset
	MaxPort              = 65535 - BusPortOffset
	MinPasswordLength    = 16
	defaultKernelTuning  = true
)

// DefaultTLSMinValidity is cluster.tls.min_validity: a certificate that
// expires within it fails validate.
const DefaultTLSMinValidity = 14 * 24 * time.Hour

// DefaultMaxWriteOutage is failover.max_write_outage.
const DefaultMaxWriteOutage = 5 * time.Second

// Defaults of the latency baseline and of an abort's second look.
const (
	// DefaultBaselineWindow is how long rebalance measures each master's
	// latency baseline before the first batch.
	DefaultBaselineWindow = 3 * time.Second
	// DefaultAbortRecheck is the second look an abort reading needs.
	DefaultAbortRecheck = time.Second
)

// Default gate thresholds (the seed's monitoring limits as hold values).
var (
	DefaultLatencyAvgMS     = Threshold{Hold: 5, Abort: 50}
	DefaultLatencyP99MS     = Threshold{Hold: 20, Abort: 200}
	DefaultReplicationLagMS = Threshold{Hold: 500, Abort: 5000}
	DefaultCPUPercent       = Threshold{Hold: 70, Abort: 95}
	DefaultMemoryPercent    = Threshold{Hold: 80, Abort: 95}
	// DefaultLatencyVariation fills the other limit of a
	// latency_variation_percent gate that sets only one; the gate itself
	// is off unless the inventory sets it.
	DefaultLatencyVariation = Threshold{Hold: 10, Abort: 100}
	DefaultNetworkPercent   = Threshold{Hold: 50, Abort: 90}
)

// ApplyDefaults fills every zero field that has a default. Zero means
// "not set" for these fields: a zero threshold, timeout or batch size is
// never useful. Servers inherit the top-level ssh block, then the SSH
// defaults. It does not place replicas (see Resolve) and leaves Version
// alone: Parse requires it to be written.
func ApplyDefaults(inv *Inventory) {
	c := &inv.Cluster
	setStr(&c.PasswordEnv, DefaultPasswordEnv)
	setInt(&c.NodeTimeoutMS, DefaultNodeTimeoutMS)

	g := &inv.Gates
	setThreshold(&g.LatencyAvgMS, DefaultLatencyAvgMS)
	setThreshold(&g.LatencyP99MS, DefaultLatencyP99MS)
	setThreshold(&g.ReplicationLagMS, DefaultReplicationLagMS)
	setThreshold(&g.CPUPercent, DefaultCPUPercent)
	setThreshold(&g.MemoryPercent, DefaultMemoryPercent)
	setThreshold(&g.NetworkPercent, DefaultNetworkPercent)
	setDur(&g.HoldTimeout, DefaultHoldTimeout)
	if g.LatencyVariationPercent.Hold != 0 || g.LatencyVariationPercent.Abort != 0 {
		setThreshold(&g.LatencyVariationPercent, DefaultLatencyVariation)
	}
	setDur(&g.BaselineWindow, DefaultBaselineWindow)
	setDur(&g.AbortRecheck, DefaultAbortRecheck)

	r := &inv.Rebalance
	setInt(&r.BatchSlots, DefaultBatchSlots)
	if r.ThresholdPercent == 0 {
		r.ThresholdPercent = DefaultThresholdPct
	}
	setInt64(&r.BigKeyBytes, DefaultBigKeyBytes)

	v := &inv.Validate
	setInt64(&v.BigKeyWarnBytes, DefaultBigKeyWarn)
	setInt64(&v.BigKeyFailBytes, DefaultBigKeyFail)
	setDur(&v.BigKeyBudget, DefaultBigKeyBudget)
	setDur(&v.BackupMaxAge, DefaultBackupMaxAge)
	setDur(&inv.Backup.MaxAge, DefaultBackupMaxAge)
	setDur(&inv.Failover.MaxWriteOutage, DefaultMaxWriteOutage)
	if inv.Cluster.TLS != nil {
		setDur(&inv.Cluster.TLS.MinValidity, DefaultTLSMinValidity)
	}

	p := &inv.Provision
	setStr(&p.Service, DefaultService)
	setStr(&p.Install, DefaultInstall)
	if p.KernelTuning == nil {
		t := defaultKernelTuning
		p.KernelTuning = &t
	}
	setStr(&p.User, DefaultRedisUser)
	setStr(&p.Group, DefaultRedisUser)
	setStr(&p.Paths.Config, DefaultConfigDir)
	setStr(&p.Paths.Data, DefaultDataDir)
	setStr(&p.Paths.Log, DefaultLogDir)
	setStr(&p.Paths.Run, DefaultRunDir)

	setStr(&inv.SSH.User, DefaultSSHUser)
	setInt(&inv.SSH.Port, DefaultSSHPort)
	for i := range inv.Servers {
		s := &inv.Servers[i].SSH
		setStr(&s.User, inv.SSH.User)
		setInt(&s.Port, inv.SSH.Port)
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setInt64(p *int64, v int64) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *Duration, v time.Duration) {
	if p.Duration == 0 {
		p.Duration = v
	}
}

// setThreshold fills each limit separately, so "{hold: 10}" keeps the
// default abort.
func setThreshold(t *Threshold, def Threshold) {
	if t.Hold == 0 {
		t.Hold = def.Hold
	}
	if t.Abort == 0 {
		t.Abort = def.Abort
	}
}
