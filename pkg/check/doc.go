// Package check turns what slotshift observed of a cluster — a snapshot,
// TCP dials, probe measurements — into the report checks of validate and
// verify, with their stable ids, messages and thresholds; it does no I/O.
//
// Each Check function takes the inventory and the observed values and
// returns report.Check values: a failed check is data, never an error. The
// stages take the samples (pkg/stage, through pkg/gate's probes and
// pkg/cluster/admin) and call these functions; tests call them with
// fabricated snapshots.
package check
