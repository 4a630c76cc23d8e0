package report

import (
	"time"
)

// Fixed inputs for the golden reports: every value, including times and
// the host name, is constant so the files are byte-for-byte stable.

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func base(stage string, outcome Outcome, exit int, d time.Duration) *Report {
	r := &Report{
		FormatVersion: FormatVersion,
		Tool:          Tool{Name: "slotshift", Version: "v0.1.0"},
		Stage:         stage,
		Outcome:       outcome,
		ExitCode:      exit,
		Hostname:      "runner-1",
		StartedAt:     t0,
		Cluster:       ClusterIdentity{Name: "prod-cache", InventoryFile: "inventory.yml"},
	}
	r.Finish(t0.Add(d))
	return r
}

func validatePass() *Report {
	r := base("validate", OutcomePass, 0, 1234*time.Millisecond)
	r.Cluster.Masters, r.Cluster.Replicas = 3, 3
	r.Checks = []Check{
		{ID: "inventory.schema", Status: Pass, Message: "inventory is valid", File: "inventory.yml", Line: 1, Duration: 0.0021},
		{ID: "inventory.masters", Status: Pass, Message: "3 masters", Observed: 3, Threshold: 3, Duration: 0.0001},
		{ID: "node.reachable", Status: Pass, Message: "port and bus port answer", Node: "10.0.0.1:7000", Duration: 0.0123},
		{ID: "node.reachable", Status: Pass, Message: "port and bus port answer", Node: "10.0.0.2:7000", Duration: 0.0119},
		{ID: "node.memory", Status: Warn, Message: "memory at 72% of maxmemory", Node: "10.0.0.3:7000",
			Observed: 72.5, Threshold: 70, Unit: "%", Hint: "raise maxmemory or add servers"},
		{ID: "backup.recent", Status: Skip, Message: "no replicas yet"},
	}
	r.Summary = []string{"3 servers, 6 nodes", "no change to apply"}
	return r
}

func validateFail() *Report {
	r := base("validate", OutcomeFail, 1, 87*time.Millisecond)
	r.Cluster.InventoryFile = "inventory/prod.yml"
	r.Checks = []Check{
		{ID: "inventory.servers_odd", Status: Fail, Message: "4 servers: the number of servers must be odd",
			File: "inventory/prod.yml", Line: 7, Observed: 4, Hint: "add or remove one server"},
		{ID: "inventory.new_in_pairs", Status: Fail, Message: "server4 is new without a partner\nnew servers come in pairs",
			Node: "server4", File: "inventory/prod.yml", Line: 31},
		{ID: "inventory.replica_placement", Status: Fail, Message: `replica server4:7001 sits on its master's server (<same> "host")`,
			Node: "server4:7001", File: "inventory/prod.yml", Line: 34},
		{ID: "inventory.password", Status: Warn, Message: "password from REDIS_ACCESSKEY has 16 characters; 32 recommended",
			File: "inventory/prod.yml", Line: 4},
		{ID: "inventory.masters", Status: Pass, Message: "4 masters"},
	}
	return r
}

func rebalanceBase() *Report {
	r := base("rebalance", OutcomePass, 0, 42*time.Second+500*time.Millisecond)
	r.Cluster.Fingerprint = "sha256:4f2a9c"
	r.Cluster.Masters, r.Cluster.Replicas = 4, 4
	moves1 := []Move{
		{From: "10.0.0.1:7000", To: "10.0.0.4:7000", Start: 0, End: 99, Batch: 1},
	}
	moves2 := []Move{
		{From: "10.0.0.2:7000", To: "10.0.0.4:7000", Start: 5461, End: 5560, Batch: 2},
	}
	r.Rebalance = &RebalanceSection{
		Plan: PlanSummary{
			Fingerprint: "sha256:4f2a9c",
			Targets: []SlotTarget{
				{Node: "10.0.0.1:7000", ID: "a1", Weight: 1, Current: 5461, Target: 4096},
				{Node: "10.0.0.4:7000", ID: "d4", Weight: 1, Current: 0, Target: 4096},
			},
			Moves:       append(append([]Move{}, moves1...), moves2...),
			Batches:     2,
			SlotsToMove: 200,
		},
		Batches: []Batch{
			{Number: 1, StartedAt: t0.Add(time.Second), Moves: moves1, Slots: 100, Keys: 12000, Bytes: 3 << 20,
				Duration: 18.25, Status: Pass,
				Gates: []GateReading{
					{Gate: "latency_p99_ms", Node: "10.0.0.1:7000", Value: 3.2, Hold: 20, Abort: 200, Decision: "proceed"},
					{Gate: "replication_lag_ms", Node: "10.0.0.5:7001", Value: 120, Hold: 500, Abort: 5000, Decision: "proceed"},
				},
				Checks: []Check{
					{ID: "gate.latency_p99", Status: Pass, Message: "p99 3.2 ms", Node: "10.0.0.1:7000", Observed: 3.2, Threshold: 20, Unit: "ms", Batch: 1},
					{ID: "gate.replication_lag", Status: Pass, Message: "lag 120 ms", Node: "10.0.0.5:7001", Observed: 120, Threshold: 500, Unit: "ms", Batch: 1},
				},
				Pace: []PaceState{{Node: "10.0.0.1:7000", Level: 0.42, KeysPerMigrate: 100, BytesPerMigrate: 419430, Depth: 2, Rest: 0.25, BudgetUsed: 0.63}}},
			{Number: 2, StartedAt: t0.Add(20 * time.Second), Moves: moves2, Slots: 100, Keys: 11800, Bytes: 2 << 20,
				Duration: 21.0005, Status: Warn,
				Gates: []GateReading{
					{Gate: "latency_p99_ms", Node: "10.0.0.2:7000", Value: 18.5, Hold: 20, Abort: 200, Decision: "proceed"},
				},
				Checks: []Check{
					{ID: "gate.latency_p99", Status: Warn, Message: "p99 18.5 ms, close to the hold threshold", Node: "10.0.0.2:7000", Observed: 18.5, Threshold: 20, Unit: "ms", Batch: 2},
				}},
		},
		BatchesRemaining: 0,
		SlotsMoved:       200,
		KeysMoved:        23800,
		BytesMoved:       5 << 20,
		Done:             true,
		Pace:             &PaceSummary{Sources: 2, Decisions: 160, MinLevel: 0.12, MedianLevel: 0.55},
	}
	return r
}

func rebalanceDone() *Report {
	r := rebalanceBase()
	r.Checks = []Check{
		{ID: "plan.fresh", Status: Pass, Message: "cluster matches the plan's fingerprint"},
		{ID: "slots.open", Status: Pass, Message: "no open slots"},
	}
	r.Outputs = map[string]string{"batches-remaining": "0", "slots-moved": "200", "done": "true"}
	r.Summary = []string{"moved 200 slots to 10.0.0.4:7000 in 2 batches"}
	return r
}

func rebalanceHeld() *Report {
	r := rebalanceBase()
	r.Outcome, r.ExitCode = OutcomeHeld, 75
	r.Error = "held: gates stayed red for 10m0s"
	r.Hint = "retry later; the cluster is consistent"
	rb := r.Rebalance
	rb.Done = false
	rb.BatchesRemaining = 1
	rb.SlotsMoved, rb.KeysMoved, rb.BytesMoved = 100, 12000, 3<<20
	rb.Batches = rb.Batches[:1]
	rb.Batches = append(rb.Batches, Batch{
		Number: 2, StartedAt: t0.Add(20 * time.Second), Moves: []Move{}, Slots: 0, Duration: 600, Status: Hold,
		Gates: []GateReading{
			{Gate: "latency_p99_ms", Node: "10.0.0.2:7000", Value: 35, Hold: 20, Abort: 200, Decision: "hold"},
		},
		Pace: []PaceState{{Node: "10.0.0.2:7000", Level: 0.002, KeysPerMigrate: 10, BytesPerMigrate: 41943, Depth: 1, Rest: 4, BudgetUsed: 1.75, Exhausted: true}},
	})
	rb.Pace = &PaceSummary{Sources: 2, Decisions: 2480, MinLevel: 0.002, MedianLevel: 0.31, Exhausted: 600, Dipped: 240}
	r.Checks = []Check{
		{ID: "plan.fresh", Status: Pass, Message: "cluster matches the plan's fingerprint"},
		{ID: "gate.latency_p99", Status: Hold, Message: "p99 35 ms over the hold threshold for 10m0s",
			Node: "10.0.0.2:7000", Observed: 35, Threshold: 20, Unit: "ms", Batch: 2},
	}
	r.Outputs = map[string]string{"batches-remaining": "1", "slots-moved": "100", "done": "false"}
	return r
}

func joinError() *Report {
	r := base("join", OutcomeError, 3, 5*time.Second)
	r.Error = "join: meet 10.0.0.4:7000: dial tcp 10.0.0.4:7000: connect: connection refused"
	r.Hint = "check that redis-server runs on the new servers (slotshift provision)"
	return r
}

// goldens names every golden report.
var goldens = []struct {
	name  string
	build func() *Report
}{
	{"validate-pass", validatePass},
	{"validate-fail", validateFail},
	{"rebalance", rebalanceDone},
	{"rebalance-held", rebalanceHeld},
	{"join-error", joinError},
}
