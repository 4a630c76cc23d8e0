package check

// Check ids of validate and verify. They are stable: reports, JUnit test
// names and workflow conditions refer to them.
const (
	IDReachable      = "node.reachable"
	IDBusPort        = "node.bus_port"
	IDAuth           = "node.auth"
	IDClusterEnabled = "node.cluster_enabled"
	IDVersion        = "redis.version"
	IDConfigDrift    = "config.drift"
	IDClusterState   = "cluster.state"
	IDSlotsCoverage  = "slots.coverage"
	IDSlotsOpen      = "slots.open"
	IDSlotsAgreement = "slots.agreement"
	IDNodeFailed     = "node.failed"
	IDNewEmpty       = "node.new_empty"
	IDMemoryHeadroom = "memory.headroom"
	IDGateCPU        = "gate.cpu"
	IDGateMemory     = "gate.memory"
	IDBigKeys        = "keys.big"
	IDBackup         = "backup.recent"
	IDPlacement      = "replication.placement"
	IDReplLink       = "replication.link"
	IDReplLag        = "replication.lag"
	IDDistribution   = "slots.distribution"
	IDInventoryMatch = "inventory.match"
	IDCanary         = "canary.write_read"
	IDLatencyAvg     = "gate.latency_avg"
	IDLatencyP99     = "gate.latency_p99"
)

// NotCreated is the message of the checks skipped before join has created
// the cluster.
const NotCreated = "cluster not created yet: run join"
