package inventory

import "time"

// Inventory is the desired state of one Redis Cluster: its servers, the
// Redis processes (nodes) on each, the gates that guard changes and the
// settings of each stage. It holds no secrets, only the names of the
// environment variables that hold them.
type Inventory struct {
	// Source is the file name (or "SLOTSHIFT_INVENTORY" for inline text)
	// the inventory was read from; used in messages and annotations.
	Source    string    `json:"-"`
	Version   int       `json:"version"`
	Cluster   Cluster   `json:"cluster"`
	Servers   []Server  `json:"servers"`
	Gates     Gates     `json:"gates"`
	Rebalance Rebalance `json:"rebalance"`
	Provision Provision `json:"provision"`
	Validate  Validate  `json:"validate"`
	Backup    Backup    `json:"backup"`
	Failover  Failover  `json:"failover"`
	SSH       SSH       `json:"ssh"` // defaults for every server's ssh block
	// Monitoring says where each node's redis_exporter listens.
	Monitoring Monitoring `json:"monitoring"`
}

// Cluster holds cluster-wide settings.
type Cluster struct {
	Name string `json:"name"`
	// PasswordEnv names the environment variable that holds the password
	// used for requirepass and masterauth. Default SLOTSHIFT_PASSWORD.
	PasswordEnv string `json:"password_env"`
	// UserEnv optionally names the variable holding an ACL user name; when
	// set, AUTH2 is used for MIGRATE.
	UserEnv string `json:"user_env,omitempty"`
	// TLS, when set, makes every connection to the nodes TLS, and
	// provision renders tls-port, port 0, tls-cluster and tls-replication.
	TLS *TLS `json:"tls,omitempty"`
	// NodeTimeoutMS is cluster-node-timeout in milliseconds. Default 5000.
	NodeTimeoutMS int `json:"node_timeout_ms"`
	// RedisConfig holds extra directives, identical on every node.
	RedisConfig map[string]string `json:"redis_config,omitempty"`
	Line        int               `json:"-"`
}

// TLS names the environment variables that hold the TLS material as PEM
// content (as CI secrets arrive), like the SSH key: never paths, never the
// content in the file.
type TLS struct {
	// CAEnv holds the CA certificate(s) that sign the nodes' certificates.
	CAEnv string `json:"ca_env"`
	// CertEnv holds the certificate slotshift presents and provision
	// installs on the nodes (Redis uses one certificate as server and
	// client).
	CertEnv string `json:"cert_env"`
	// KeyEnv holds CertEnv's private key.
	KeyEnv string `json:"key_env"`
	// ServerName is the name the nodes' certificates must carry; empty =
	// the address each node is reached at.
	ServerName string `json:"server_name,omitempty"`
	// MinValidity: a certificate that expires sooner fails validate
	// (tls.validity). Default 336h (14 days).
	MinValidity Duration `json:"min_validity"`
	// InsecureSkipVerify turns off the verification of the nodes'
	// certificates. Every stage warns about it in its log and report.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
	Line               int  `json:"-"`
}

// Server is one machine, one failure domain.
type Server struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	SSH     SSH    `json:"ssh"`
	// Weight scales the slot share of the masters on this server. Default 1;
	// 0 drains them.
	Weight *float64 `json:"weight,omitempty"`
	Nodes  []Node   `json:"nodes"`
	// Monitoring overrides the top-level monitoring block for this
	// server's nodes.
	Monitoring Monitoring `json:"monitoring"`
	// LinkMbps is the server's network link in Mbit/s, shared by all its
	// nodes; gates.network_percent is measured against it. 0 (unset)
	// leaves the server out of that gate.
	LinkMbps float64 `json:"link_mbps,omitempty"`
	Line     int     `json:"-"`
}

// SSH says how to reach a server over SSH. Credentials come from the
// environment (SLOTSHIFT_SSH_KEY, SLOTSHIFT_SSH_KNOWN_HOSTS), never the file.
type SSH struct {
	User string `json:"user,omitempty"` // default "root"
	Port int    `json:"port,omitempty"` // default 22
	Line int    `json:"-"`
}

// Role is a node's declared role.
type Role string

// Node roles.
const (
	RoleMaster  Role = "master"
	RoleReplica Role = "replica"
)

// Node is one redis-server process. Its cluster bus port is Port+10000.
type Node struct {
	Port int  `json:"port"`
	Role Role `json:"role"`
	// ReplicaOf names the master as "server:port". Empty on a replica means
	// "place me" (see PlaceReplicas).
	ReplicaOf string `json:"replica_of,omitempty"`
	// ExporterPort is the port of this node's own redis_exporter on the
	// server's address; 0 = derived (see ExporterPort).
	ExporterPort int `json:"exporter_port,omitempty"`
	Line         int `json:"-"`
}

// Threshold is a gate's two limits: over Hold the run waits, over Abort it stops.
type Threshold struct {
	Hold  float64 `json:"hold"`
	Abort float64 `json:"abort"`
	Line  int     `json:"-"`
}

// Gates are the thresholds every change is gated on.
type Gates struct {
	LatencyAvgMS     Threshold `json:"latency_avg_ms"`     // default 5 / 50
	LatencyP99MS     Threshold `json:"latency_p99_ms"`     // default 20 / 200
	ReplicationLagMS Threshold `json:"replication_lag_ms"` // default 500 / 5000
	CPUPercent       Threshold `json:"cpu_percent"`        // default 70 / 95
	MemoryPercent    Threshold `json:"memory_percent"`     // default 80 / 95
	// LatencyVariationPercent bounds each master's PING p99 and avg against
	// its own baseline, measured before the first batch: variation % =
	// (current - baseline) / max(baseline, 1ms) * 100. Off unless set;
	// setting one limit defaults the other to 10 / 100.
	LatencyVariationPercent Threshold `json:"latency_variation_percent"`
	// BaselineWindow is how long the baseline is measured. Default 3s.
	BaselineWindow Duration `json:"baseline_window"`
	// AbortRecheck is the second look an abort needs: a reading over an
	// abort limit stops the run only if the latency measured over the
	// next AbortRecheck still aborts. Default 1s; the look lasts at least
	// as many PINGs per node as the latency baseline was measured on.
	AbortRecheck Duration `json:"abort_recheck"`
	// HoldTimeout is how long a red gate may hold before the run exits 75.
	HoldTimeout Duration `json:"hold_timeout"` // default 10m
	// NetworkPercent is a server's traffic (every node's INFO input plus
	// output) in percent of its link_mbps; servers without link_mbps are
	// not gated.
	NetworkPercent Threshold `json:"network_percent"` // default 50 / 90
	// Window is the maintenance window batches must start (and end) in;
	// nil means any time.
	Window *Window `json:"window,omitempty"`
	Line   int     `json:"-"`
}

// Rebalance holds the rebalance stage's settings.
type Rebalance struct {
	BatchSlots          int      `json:"batch_slots"`           // default 100
	PauseBetweenBatches Duration `json:"pause_between_batches"` // default 0
	ThresholdPercent    float64  `json:"threshold_percent"`     // default 2
	// BigKeyBytes is the largest key a batch moves; a larger one holds it.
	BigKeyBytes int64 `json:"big_key_bytes,omitempty"` // default 512 MiB
	Line        int   `json:"-"`
}

// Validate holds the validate stage's settings.
type Validate struct {
	// RequireOddServers makes an even number of servers a failure, not a warning.
	RequireOddServers bool  `json:"require_odd_servers,omitempty"`
	BigKeyWarnBytes   int64 `json:"big_key_warn_bytes,omitempty"` // default 10 MB
	BigKeyFailBytes   int64 `json:"big_key_fail_bytes,omitempty"` // default 100 MB
	// BigKeyBudget bounds the time the big-key scan may take per node.
	BigKeyBudget Duration `json:"big_key_budget,omitempty"` // default 2s
	// BackupMaxAge: warn when a replica's last successful save is older.
	BackupMaxAge Duration `json:"backup_max_age,omitempty"` // default 24h
	Line         int      `json:"-"`
}

// Backup holds the settings of backups and of the checks that rely on them.
type Backup struct {
	// MaxAge is how old a backup manifest's files may be before a stage
	// that needs a backup refuses it. Default 24h.
	MaxAge Duration `json:"max_age"`
	Line   int      `json:"-"`
}

// Failover holds the settings of failover-test.
type Failover struct {
	// MaxWriteOutage is the longest time a shard's clients may go without
	// an acknowledged write while it fails over to a replica (or back);
	// longer fails the shard. Default 5s.
	MaxWriteOutage Duration `json:"max_write_outage"`
	Line           int      `json:"-"`
}

// Provision holds the provision stage's settings.
type Provision struct {
	Service      string `json:"service"`       // systemd | daemon | auto (default auto)
	Install      string `json:"install"`       // apt | skip (default apt)
	KernelTuning *bool  `json:"kernel_tuning"` // default true
	User         string `json:"user"`          // default redis
	Group        string `json:"group"`         // default redis
	Paths        Paths  `json:"paths"`
	// RedisExporter installs and runs one prometheus-redis-exporter per
	// node, on the node's monitoring exporter port. Default false.
	RedisExporter bool `json:"redis_exporter"`
	Line          int  `json:"-"`
}

// Monitoring describes the redis_exporter deployment that `slotshift
// monitoring` writes Prometheus targets for: one exporter per node, on the
// node's server, each with its own port.
type Monitoring struct {
	// ExporterPort is the first exporter port of a run of consecutive
	// ports: the n-th node (from 0, in file order) at an address gets
	// ExporterPort+n. 0 = inherit (a server inherits the top level; the
	// top level defaults to 9121, redis_exporter's own default).
	ExporterPort int `json:"exporter_port,omitempty"`
	Line         int `json:"-"`
}

// Paths are the directories provision writes to.
type Paths struct {
	Config string `json:"config"` // default /etc/redis/cluster
	Data   string `json:"data"`   // default /var/lib/redis
	Log    string `json:"log"`    // default /var/log/redis
	Run    string `json:"run"`    // default /var/run/redis
}

// Duration is a time.Duration written as a Go duration string ("10m", "0s").
type Duration struct{ time.Duration }
