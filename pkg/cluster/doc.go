// Package cluster models a Redis Cluster's topology: hash slots and slot sets,
// the key-to-slot function, the CLUSTER NODES format and a fingerprint of the
// slot map. It is pure: it does no I/O and imports no network code.
package cluster
