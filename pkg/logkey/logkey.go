// Package logkey names the structured log attribute keys. Each key has one
// meaning everywhere, so a log query for node=10.0.0.4:7000 finds every
// record about that process, whichever package logged it.
package logkey

// The keys. Values are plain strings so that slog's key-value form works.
const (
	// Node is a Redis process's address, host:port.
	Node = "node"
	// NodeName is a node's inventory name, server:port.
	NodeName = "node_name"
	// Server is an inventory server name (one machine).
	Server = "server"
	// Stage is the stage: validate, provision, join, rebalance, verify.
	Stage = "stage"
	// Slot is a hash slot number.
	Slot = "slot"
	// Batch is a rebalance batch number, from 1.
	Batch = "batch"
	// Nodes is a count of nodes.
	Nodes = "nodes"
	// Replicas is a count of replicas.
	Replicas = "replicas"
	// Checks is a count of checks.
	Checks = "checks"
	// Mode is what a stage is doing: join's create, extend or noop.
	Mode = "mode"
	// Action is one membership action (join's ActionMet, …).
	Action = "action"
	// Detail says more about an action.
	Detail = "detail"
	// When says at which step a wait happened.
	When = "when"
	// Duration is how long something took.
	Duration = "duration"
	// Outcome is a stage's report outcome.
	Outcome = "outcome"
	// ExitCode is the process exit code.
	ExitCode = "exit_code"
	// JSONReport and JUnitReport are the paths of the written reports.
	JSONReport  = "json_report"
	JUnitReport = "junit_report"
	// Error is an error's text.
	Error = "err"
)
