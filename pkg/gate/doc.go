// Package gate watches a cluster while slots move and decides whether a
// migration may proceed, must hold, or must abort.
//
// It follows gh-ost's throttler: background probes (a PING latency probe per
// master, a replication-lag probe per replica, INFO cpu/memory and
// CLUSTER INFO/NODES per node) record Readings; the pure function Decide turns
// Readings and inventory thresholds into one Decision; workers block on
// Monitor.Wait. Decide does no I/O; Monitor does.
//
// The probes (ProbeLag, ProbeCPU, ProbeLatency) are exported so that the
// read-only stages measure a node exactly as the gates do, and the
// arithmetic behind every reading (histogram summary, CPU %, lag, memory %,
// the hold/abort grade) lives in pkg/measure. Decisions and readings are
// gate's own values; turning them into report entries is the caller's job.
//
// Three refinements bound a run's impact without stopping it for noise: an
// abort is acted on only after a second look (secondlook.go); the latency
// variation gate grades each master against its own baseline measured
// before the first batch (baseline.go); and the PING probes' total rate
// and histogram sizes stay bounded as the cluster grows (proberate.go).
package gate
