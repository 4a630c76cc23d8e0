package stage

// Structured log attribute keys. Each key has one meaning everywhere, so a
// log query for node=10.0.0.4:7000 finds every record about that process.
const (
	// KeyNode is a Redis process's address, host:port.
	KeyNode = "node"
	// KeyNodeName is a node's inventory name, server:port.
	KeyNodeName = "node_name"
	// KeyServer is an inventory server name (one machine).
	KeyServer = "server"
	// KeyStage is the stage: validate, provision, join, rebalance, verify.
	KeyStage = "stage"
	// KeySlot is a hash slot number.
	KeySlot = "slot"
	// KeyBatch is a rebalance batch number, from 1.
	KeyBatch = "batch"
	// KeyNodes is a count of nodes.
	KeyNodes = "nodes"
	// KeyReplicas is a count of replicas.
	KeyReplicas = "replicas"
	// KeyChecks is a count of checks.
	KeyChecks = "checks"
	// KeyMode is what a stage is doing: join's create, extend or noop.
	KeyMode = "mode"
	// KeyAction is one membership action (join's ActionMet, …).
	KeyAction = "action"
	// KeyDetail says more about an action.
	KeyDetail = "detail"
	// KeyWhen says at which step a wait happened.
	KeyWhen = "when"
	// KeyDuration is how long something took.
	KeyDuration = "duration"
	// KeyOutcome is a stage's report outcome.
	KeyOutcome = "outcome"
	// KeyExitCode is the process exit code.
	KeyExitCode = "exit_code"
	// KeyJSONReport and KeyJUnitReport are the paths of the written reports.
	KeyJSONReport  = "json_report"
	KeyJUnitReport = "junit_report"
	// KeyError is an error's text.
	KeyError = "err"
)
