// Package load drives client load against a Redis Cluster through a go-redis
// ClusterClient, as an application would, and accounts for every write: at
// the end it reads every acknowledged key back and reports the keys that were
// lost (missing) or stale (holding a value older than the last acknowledged
// one). It also records client latency (HdrHistogram) and errors by kind for
// every second of the run.
//
// Each client goroutine owns a disjoint share of the key space (key i belongs
// to client i mod Clients) and runs one operation at a time, so the order of
// the writes to a key is known exactly and the value a key must hold is
// never ambiguous. Every value names the run, the key and the key's write
// version, so a stale or misplaced value is recognised; a write that failed
// (its outcome is unknown: the key may hold the old or the new value) is
// tracked as such and never counted as lost or stale when its value shows up
// in place of the last acknowledged one. A failed write that the server
// applies after a later, acknowledged write of the same key does count as
// stale: acknowledged data was overwritten.
//
// Memory: the generator keeps two uint32 versions per key (8 bytes; 100k
// keys = 800 KB, the maximum MaxKeys = 8 MB), not the values, which it can
// rebuild from the versions. Latency is kept as one histogram for the
// current second and one for the whole run (about 100 KB each); each
// finished second leaves a small summary (p50, p99, max, errors by kind), so
// an hour-long run adds about 3,600 of them.
package load
