// Package metrics writes a rebalance's progress in the Prometheus text
// exposition format (version 0.0.4): atomically to a file that
// node_exporter's textfile collector reads, and optionally by HTTP PUT to a
// Pushgateway. Encoding is pure; WriteFile and Push do the I/O.
package metrics
