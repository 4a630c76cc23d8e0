// Package sandbox runs Redis Cluster nodes as local redis-server processes on
// loopback addresses, for `slotshift sandbox up|down|status`, the demo and
// integration tests.
//
// Start launches one node from a generated redis.conf (mode 0600; the
// password lives in the file, never in argv) and waits until it answers
// PING. Up, Down and Status do the same for every node of an inventory and
// record what they started in a state file, so that a later Down stops
// exactly those processes and never a recycled pid.
package sandbox
