// Package measure turns raw node samples into the numbers slotshift judges
// a cluster by — PING latency summaries from an HdrHistogram, CPU percent
// from two used_cpu samples, replication lag from offsets, memory percent
// against maxmemory — and grades a number against a gate threshold; it
// does no I/O.
//
// The gate monitor and the read-only stages take their samples with the
// same probes and pass them through these functions, so that what validate
// and verify report about a node is what rebalance gates on.
package measure
