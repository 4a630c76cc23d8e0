// Package migrate moves hash slots between Redis Cluster masters: it runs a
// rebalance plan batch by batch behind the gates, moves each slot with the
// legacy SETSLOT/GETKEYSINSLOT/MIGRATE protocol (pipelined across slots and
// run in parallel across moves), and closes slots a killed run left open.
//
// Per slot the order is always: SETSLOT IMPORTING on the target, SETSLOT
// MIGRATING on the source, MIGRATE every key, SETSLOT NODE on the target,
// then the source, then every other master. Many slots go through each step
// together in one pipeline, which is what makes it fast: the cost of the
// legacy protocol is round trips, not bytes.
package migrate
