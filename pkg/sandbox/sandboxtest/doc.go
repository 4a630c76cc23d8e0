// Package sandboxtest starts throw-away Redis Clusters of real redis-server
// processes for integration tests: Start launches n nodes on free loopback
// ports in t.TempDir(), Form makes them a cluster and waits until every node
// agrees, Load and CheckKeys write and verify a deterministic data set, and
// everything is stopped by t.Cleanup, also when the test fails.
package sandboxtest
