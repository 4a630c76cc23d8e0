package report

import "time"

// FormatVersion is the report format: minor bumps add fields, consumers
// ignore unknown fields, a major bump breaks.
const FormatVersion = "1.0"

// Status is one check's result.
type Status string

// Check statuses.
const (
	Pass  Status = "pass"
	Fail  Status = "fail"
	Error Status = "error" // the check could not run
	Skip  Status = "skip"
	Hold  Status = "hold"
	Warn  Status = "warn"
)

// Outcome is a whole stage's result.
type Outcome string

// Stage outcomes; each maps to one exit code.
const (
	OutcomePass        Outcome = "pass"        // 0
	OutcomeFail        Outcome = "fail"        // 1
	OutcomeUsage       Outcome = "usage"       // 2
	OutcomeError       Outcome = "error"       // 3
	OutcomeHeld        Outcome = "held"        // 75
	OutcomeInterrupted Outcome = "interrupted" // 130 / 143
)

// Check is one verdict with a stable dotted id (e.g. "slots.coverage").
type Check struct {
	ID        string   `json:"id"`
	Status    Status   `json:"status"`
	Message   string   `json:"message"`
	Node      string   `json:"node,omitempty"` // host:port or server name
	Observed  any      `json:"observed,omitempty"`
	Threshold any      `json:"threshold,omitempty"`
	Unit      string   `json:"unit,omitempty"`
	File      string   `json:"file,omitempty"` // inventory file
	Line      int      `json:"line,omitempty"` // inventory line
	Duration  Seconds  `json:"duration_s,omitempty"`
	Batch     int      `json:"batch,omitempty"` // rebalance batch number (1-based) or 0
	Hint      string   `json:"hint,omitempty"`
	Tags      []string `json:"tags,omitempty"`
}

// Seconds is a duration in seconds, written with millisecond precision.
type Seconds float64

// SecondsOf converts d to Seconds.
func SecondsOf(d time.Duration) Seconds { return Seconds(d.Seconds()) }

// ClusterIdentity names the cluster a report is about.
type ClusterIdentity struct {
	Name          string `json:"name,omitempty"`
	InventoryFile string `json:"inventory_file,omitempty"`
	Fingerprint   string `json:"fingerprint,omitempty"` // slot-map fingerprint when observed
	Masters       int    `json:"masters,omitempty"`
	Replicas      int    `json:"replicas,omitempty"`
}

// Report is the JSON report of one stage run. Stage-specific sections are
// optional and appear only for their stage.
type Report struct {
	FormatVersion string            `json:"format_version"`
	Tool          Tool              `json:"tool"`
	Stage         string            `json:"stage"`
	Outcome       Outcome           `json:"outcome"`
	ExitCode      int               `json:"exit_code"`
	Error         string            `json:"error,omitempty"`
	Hint          string            `json:"hint,omitempty"`
	Hostname      string            `json:"hostname,omitempty"` // machine that ran the stage; JUnit falls back to os.Hostname
	StartedAt     time.Time         `json:"started_at"`
	FinishedAt    time.Time         `json:"finished_at"`
	Duration      Seconds           `json:"duration_s"`
	Cluster       ClusterIdentity   `json:"cluster"`
	Checks        []Check           `json:"checks"`
	Summary       []string          `json:"summary,omitempty"` // human lines, e.g. the change preview
	Outputs       map[string]string `json:"outputs,omitempty"` // extra per-stage outputs

	Join      *JoinSection      `json:"join,omitempty"`
	Rebalance *RebalanceSection `json:"rebalance,omitempty"`
	Provision *ProvisionSection `json:"provision,omitempty"`
	Load      *LoadSection      `json:"load,omitempty"`
	Failover  *FailoverSection  `json:"failover,omitempty"`
}

// Tool identifies the program that wrote the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// JoinSection lists the membership actions of a join run.
type JoinSection struct {
	Mode    string       `json:"mode"` // create | extend | noop
	Actions []JoinAction `json:"actions"`
}

// JoinAction is one membership change (or a "unchanged" record).
type JoinAction struct {
	Node     string  `json:"node"`
	Action   string  `json:"action"` // met | replicated | forgotten | reset | slots-assigned | unchanged | functions-copied
	Detail   string  `json:"detail,omitempty"`
	Duration Seconds `json:"duration_s"`
}

// RebalanceSection holds the plan and what each batch did.
type RebalanceSection struct {
	Plan             PlanSummary `json:"plan"`
	Batches          []Batch     `json:"batches"`
	BatchesRemaining int         `json:"batches_remaining"`
	SlotsMoved       int         `json:"slots_moved"`
	KeysMoved        int64       `json:"keys_moved"`
	BytesMoved       int64       `json:"bytes_moved"` // MEMORY USAGE of the moved keys, partly estimated (migrate.LegacyOptions.SizeEvery)
	Replaced         int64       `json:"busykey_replaced"`
	RepairedSlots    []int       `json:"repaired_slots,omitempty"`
	Done             bool        `json:"done"`
	DryRun           bool        `json:"dry_run,omitempty"`
	// Mover is the slot migration protocol that ran: "legacy",
	// "redis-asm" (CLUSTER MIGRATION) or "valkey-asm" (CLUSTER
	// MIGRATESLOTS); empty when the run stopped before choosing.
	Mover string `json:"mover,omitempty"`
	// Baseline is each master's PING latency measured before the first
	// batch, which the latency variation gate compares with: the widest
	// reading the gate's own window took in it (the check
	// rebalance.baseline also gives the whole window's p99); empty when
	// that gate is off.
	Baseline []NodeLatency `json:"baseline,omitempty"`
	// Pace summarises the pace controller over the run; nil when the
	// sources were not paced.
	Pace *PaceSummary `json:"pace,omitempty"`
}

// NodeLatency is one node's client-side PING latency, in milliseconds.
type NodeLatency struct {
	Node    string  `json:"node"`
	AvgMS   float64 `json:"avg_ms"`
	P99MS   float64 `json:"p99_ms"`
	Samples int64   `json:"samples"`
}

// PaceSummary is what the pace controller did over a run. A level is the
// pace as a fraction of the fastest (near 0: slowest, 1: fastest).
type PaceSummary struct {
	Sources     int     `json:"sources"`
	Decisions   int     `json:"decisions"`
	MinLevel    float64 `json:"min_level"`
	MedianLevel float64 `json:"median_level"`
	// Exhausted is the time sources spent at the slowest pace and still
	// over budget, summed over sources.
	Exhausted Seconds `json:"exhausted_s"`
	// Dipped is the time sources spent slowed below their steady floor
	// (the controller slowing down rather than holding the run), summed
	// over sources.
	Dipped Seconds `json:"dipped_s"`
}

// PaceState is one source's pace when a batch ended.
type PaceState struct {
	Node           string  `json:"node"`
	Level          float64 `json:"level"`
	KeysPerMigrate int     `json:"keys_per_migrate"`
	// BytesPerMigrate follows KeysPerMigrate: the most bytes one MIGRATE
	// carries.
	BytesPerMigrate int64 `json:"bytes_per_migrate"`
	Depth           int   `json:"depth"` // MIGRATEs per pipeline
	// Rest is the pause after each pipeline as a multiple of its duration.
	Rest float64 `json:"rest"`
	// BudgetUsed is the latency over its budget (1 = at the budget).
	BudgetUsed float64 `json:"budget_used"`
	Exhausted  bool    `json:"exhausted,omitempty"`
}

// PlanSummary describes a rebalance plan.
type PlanSummary struct {
	Fingerprint string       `json:"fingerprint"`
	Targets     []SlotTarget `json:"targets"`
	Moves       []Move       `json:"moves"`
	Batches     int          `json:"batches"`
	SlotsToMove int          `json:"slots_to_move"`
}

// SlotTarget is one master's slot count now and after the plan.
type SlotTarget struct {
	Node    string  `json:"node"`
	ID      string  `json:"id"`
	Weight  float64 `json:"weight"`
	Current int     `json:"current"`
	Target  int     `json:"target"`
}

// Move is a contiguous slot range moving from one master to another.
type Move struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Start int    `json:"start"`
	End   int    `json:"end"`
	Batch int    `json:"batch"`
}

// Batch is what one rebalance batch did.
type Batch struct {
	Number    int           `json:"number"`              // 1-based
	StartedAt time.Time     `json:"started_at,omitzero"` // zero when unknown
	Moves     []Move        `json:"moves"`
	Slots     int           `json:"slots"`
	Keys      int64         `json:"keys"`
	Bytes     int64         `json:"bytes"`
	Duration  Seconds       `json:"duration_s"`
	Status    Status        `json:"status"`
	Gates     []GateReading `json:"gates,omitempty"`
	Checks    []Check       `json:"checks,omitempty"`
	// Pace is the pace of the batch's sources when it ended; empty when
	// they were not paced.
	Pace []PaceState `json:"pace,omitempty"`
}

// GateReading is one gate's value when a batch was decided.
type GateReading struct {
	Gate     string  `json:"gate"` // e.g. latency_p99_ms
	Node     string  `json:"node,omitempty"`
	Value    float64 `json:"value"`
	Hold     float64 `json:"hold"`
	Abort    float64 `json:"abort"`
	Decision string  `json:"decision"` // proceed | hold | abort
}

// ProvisionSection lists per-server file and command results.
type ProvisionSection struct {
	DryRun  bool           `json:"dry_run,omitempty"`
	Servers []ServerResult `json:"servers"`
}

// ServerResult is what provision did on one server.
type ServerResult struct {
	Server   string       `json:"server"`
	Files    []FileResult `json:"files"`
	Commands []string     `json:"commands,omitempty"` // scrubbed
	Restarts []string     `json:"restart_needed,omitempty"`
}

// FileResult is one rendered file.
type FileResult struct {
	Path    string `json:"path"`
	Changed bool   `json:"changed"`
	Mode    string `json:"mode"`
	Diff    string `json:"diff,omitempty"`
}

// LoadSection is what a load run did (operations, client latency and errors
// per second) and what the read-back of every acknowledged write found.
type LoadSection struct {
	Settings      LoadSettings     `json:"settings"`
	Duration      Seconds          `json:"duration_s"` // the load phase, without the read-back
	Ops           int64            `json:"ops"`
	OpsPerSecond  float64          `json:"ops_per_s"`
	Reads         int64            `json:"reads"`
	Writes        int64            `json:"writes"`
	WritesAcked   int64            `json:"writes_acked"`
	WritesUnknown int64            `json:"writes_unknown"` // failed writes: the key holds the old or the new value
	Moved         int64            `json:"moved"`          // MOVED replies followed by the client (not errors)
	Ask           int64            `json:"ask"`            // ASK replies followed by the client (not errors)
	Errors        map[string]int64 `json:"errors"`         // by kind: tryagain, clusterdown, moved/ask leaked, timeout, connection, other
	Latency       LoadLatency      `json:"latency"`
	Seconds       []LoadSecond     `json:"seconds"`
	Verify        LoadVerify       `json:"verify"`
}

// LoadSettings are the load run's parameters.
type LoadSettings struct {
	Rate        int    `json:"rate"` // ops/s in total; 0 = as fast as possible
	Clients     int    `json:"clients"`
	Keys        int    `json:"keys"`
	Prefix      string `json:"prefix"`
	ValueMin    int    `json:"value_min"` // bytes
	ValueMax    int    `json:"value_max"` // bytes
	ReadPercent int    `json:"read_percent"`
}

// LoadLatency is the client latency of every operation, in milliseconds.
type LoadLatency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// LoadSecond is one second of a load run (0 = the first second).
type LoadSecond struct {
	Second int              `json:"second"`
	Ops    int64            `json:"ops"`
	Errors map[string]int64 `json:"errors,omitempty"` // by kind
	P50    float64          `json:"p50_ms"`
	P99    float64          `json:"p99_ms"`
	Max    float64          `json:"max_ms"`
}

// LoadVerify is what reading back every acknowledged key found. A key
// whose value came from a write with an unknown outcome is not stale.
type LoadVerify struct {
	Keys           int      `json:"keys"`            // acknowledged keys read back
	Lost           int      `json:"lost"`            // missing, though a write was acknowledged
	Stale          int      `json:"stale"`           // holding a value older than the last acknowledged one
	Foreign        int      `json:"foreign"`         // holding a value no write of this run produced
	Unknown        int      `json:"unknown"`         // keys whose last write had an unknown outcome
	UnknownApplied int      `json:"unknown_applied"` // ... and that hold that write's value
	Unverified     int      `json:"unverified"`      // could not be read back
	ReadsMissing   int64    `json:"reads_missing"`   // reads during the run that found an acknowledged key missing
	ReadsStale     int64    `json:"reads_stale"`     // reads during the run that found an older or foreign value
	LostKeys       []string `json:"lost_keys,omitempty"`
	StaleKeys      []string `json:"stale_keys,omitempty"`
	Duration       Seconds  `json:"duration_s"`
}

// FailoverSection is what failover-test did to each shard, in the order
// it ran them (one at a time).
type FailoverSection struct {
	MaxWriteOutageMS float64         `json:"max_write_outage_ms"` // failover.max_write_outage
	Shards           []FailoverShard `json:"shards"`
}

// FailoverShard is one shard's failover to its replica and back, under
// load on keys in its slots. Times are in milliseconds as the client and
// the nodes saw them.
type FailoverShard struct {
	Master    string `json:"master"` // address of the master before the test
	MasterID  string `json:"master_id"`
	Replica   string `json:"replica,omitempty"` // the replica promoted
	ReplicaID string `json:"replica_id,omitempty"`
	Slots     int    `json:"slots"`
	KeyTag    string `json:"key_tag,omitempty"` // the load's keys are <prefix>{tag}:N
	Status    Status `json:"status"`
	// Refused says why the shard was not failed over (nothing was done).
	Refused string `json:"refused,omitempty"`
	// Problem says what went wrong once it was (a timeout, an error).
	Problem string `json:"problem,omitempty"`
	// WriteOutageMS is the longest time without an acknowledged write
	// around the failover; FailbackOutageMS around the failback.
	WriteOutageMS    float64 `json:"write_outage_ms"`
	FailbackOutageMS float64 `json:"failback_outage_ms"`
	// PromotionMS runs from CLUSTER FAILOVER sent to the replica until it
	// reports role master and every node agrees; FailbackMS the same for
	// the way back.
	PromotionMS  float64 `json:"promotion_ms"`
	FailbackMS   float64 `json:"failback_ms"`
	WritesAcked  int64   `json:"writes_acked"`
	WritesFailed int64   `json:"writes_failed"` // outcome unknown: not lost
	WritesLost   int     `json:"writes_lost"`   // acknowledged keys missing at the read-back
	WritesStale  int     `json:"writes_stale"`  // acknowledged keys holding an older or foreign value
	// RolesRestored is true when the original master is master again.
	RolesRestored bool    `json:"roles_restored"`
	Duration      Seconds `json:"duration_s"`
}
