// Package gate watches a cluster while slots move and decides whether a
// migration may proceed, must hold, or must abort.
//
// It follows gh-ost's throttler: background probes (a PING latency probe per
// master, a replication-lag probe per replica, INFO cpu/memory and
// CLUSTER INFO/NODES per node) record Readings; the pure function Decide turns
// Readings and inventory thresholds into one Decision; workers block on
// Monitor.Wait. Decide does no I/O; Monitor does.
package gate
