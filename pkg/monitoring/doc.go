// Package monitoring generates, from an inventory, the files that watch a
// cluster with Prometheus and Grafana: file_sd targets for one
// redis_exporter per node, alerting rules whose thresholds are the
// inventory's gates, a Grafana dashboard with a row per server and a panel
// set per node, and a prometheus.yml that ties them together. It is pure:
// it does no I/O, its output is deterministic for a given inventory, and it
// never sees a secret (the exporters read the Redis password themselves,
// from their own environment or file).
//
// # Metrics
//
// Every expression uses redis_exporter's metric names (namespace "redis"),
// checked against a running exporter by the tests. Target labels are
// cluster, server, node (the Redis address host:port) and inventory_role
// (the role the inventory declares; the live role is redis_instance_info's
// role label, and a target label named role would shadow it).
package monitoring
