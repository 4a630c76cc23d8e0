package stage

import (
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/plan"
)

// ValidateInput configures validate.
type ValidateInput struct {
	// Offline checks only the inventory; no network.
	Offline bool
	// Base is the inventory at the PR's base (nil when not given); servers
	// absent from it are "new" and must come in pairs.
	Base *inventory.Inventory
	// RequireOddServers makes an even server count a failure, not a warning.
	RequireOddServers bool
	// BackupManifest is a backup manifest (written by the backup stage) to
	// check for age, slot coverage and bad entries; "" = not checked.
	BackupManifest string
}

// VerifyInput configures verify.
type VerifyInput struct {
	// NoCanary skips the canary writes and reads.
	NoCanary bool
	// EndpointsFile is where the client endpoints (Endpoints) are written;
	// "" = not written.
	EndpointsFile string
}

// JoinInput configures join.
type JoinInput struct {
	// MastersOnly adds new masters but not their replicas (the seeds'
	// order: masters, rebalance, then replicas).
	MastersOnly bool
	// Prune removes nodes that the cluster has and the inventory lacks.
	Prune bool
	// Timeout bounds every convergence wait. Default 60s.
	Timeout time.Duration
	// Pool talks to the nodes; nil = a pool with the secrets' credentials,
	// closed when Join returns. A given pool is left open.
	Pool *admin.Pool
}

// RebalanceInput configures plan and rebalance.
type RebalanceInput struct {
	// DryRun plans and reports; it moves nothing (plan is always dry).
	DryRun bool
	// RequireBackup is a backup manifest that must pass the backup gate
	// (CheckBackupManifest) before anything moves; "" = no requirement.
	RequireBackup string
	// MaxBatches stops after this many batches; 0 = all.
	MaxBatches int
	// TargetLayout plans toward a saved layout (rollback) instead of an
	// even, weighted split.
	TargetLayout *plan.Layout
	// PauseFile pauses between slots while it exists; AbortFile stops the
	// run at the next slot boundary when it appears.
	PauseFile, AbortFile string
	// Concurrency bounds moves in flight; 0 = the executor's default.
	Concurrency int
	// Timeout bounds the convergence wait before the first batch. Default 60s.
	Timeout time.Duration
	// ProgressEvents logs each status tick as a "progress" event on Env.Log
	// (for JSON logs) instead of writing the status line to Env.Status.
	ProgressEvents bool
	// MetricsFile, when set, receives the run's metrics in the Prometheus
	// text format at each status tick and at the end (for node_exporter's
	// textfile collector); Pushgateway, when set, is a Pushgateway's base
	// URL that they are pushed to. Neither failing fails the run.
	MetricsFile, Pushgateway string
	// FaultKillAt is a fault-injection hook for crash tests: "STEP[:N]"
	// makes the process SIGKILL itself just before the Nth (default 1st)
	// slot reaches protocol step STEP (importing, migrating, keys,
	// node-target, node-source, node-others). Never set it in production.
	FaultKillAt string
	// Mover is "legacy", "atomic" or "auto" ("" = auto): which slot
	// migration protocol moves the slots (see migrate.ChooseProtocol).
	Mover string
}

// SnapshotInput configures snapshot.
type SnapshotInput struct {
	// Output is the layout file to write.
	Output string
}
