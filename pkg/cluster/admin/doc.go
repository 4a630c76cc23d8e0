// Package admin is slotshift's only door to Redis for administrative work:
// one plain client per node, parallel observation of the whole cluster into a
// cluster.Snapshot, and the membership and slot commands (MEET, REPLICATE,
// SETSLOT, MIGRATE) with error predicates instead of string matching.
package admin
