package measure

import "time"

// LagPoll is how often a lag probe reads the replica's offset again.
const LagPoll = 2 * time.Millisecond

// MasterOffset reads master_repl_offset from INFO replication fields: the
// offset a replica must reach to have caught up.
func MasterOffset(info map[string]string) (int64, error) {
	return Int(info, "master_repl_offset")
}

// ReplicaOffset reads a replica's replication offset from INFO replication
// fields: slave_repl_offset, or master_repl_offset when the replica does
// not report one.
func ReplicaOffset(info map[string]string) (int64, error) {
	if off, err := Int(info, "slave_repl_offset"); err == nil {
		return off, nil
	}
	return Int(info, "master_repl_offset")
}

// LagMS is the replication lag, in milliseconds, of a replica that reached
// its master's offset elapsed after the probe read that offset. Under
// LagPoll it is 0: the replica had caught up at the first look, and the
// time the read itself took is not lag.
func LagMS(elapsed time.Duration) float64 {
	if elapsed < LagPoll {
		return 0
	}
	return float64(elapsed.Microseconds()) / 1000
}
