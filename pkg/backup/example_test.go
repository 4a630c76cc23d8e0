package backup_test

import (
	"fmt"
	"time"

	"github.com/slotshift/slotshift/pkg/backup"
	"github.com/slotshift/slotshift/pkg/cluster"
)

// A stage that needs a recent backup loads the manifest and refuses to
// start on any finding.
func ExampleCheckManifest() {
	saved := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	m := &backup.Manifest{FormatVersion: backup.FormatVersion, Cluster: "prod", Entries: []backup.Entry{
		{Node: "10.0.0.2:7001", File: "server2-7001.rdb", Size: 1 << 20, SHA256: fmt.Sprintf("%064x", 1),
			LastSave: saved, Status: backup.Good, Slots: []cluster.Range{{Start: 0, End: 8191}}},
		{Node: "10.0.0.1:7001", File: "server1-7001.rdb", Status: backup.Bad, Problem: "redis-check-rdb: Wrong RDB checksum",
			Slots: []cluster.Range{{Start: 8192, End: 16383}}},
	}}
	now := saved.Add(30 * time.Hour)
	for _, f := range backup.CheckManifest(m, now, 24*time.Hour, backup.AllSlots()) {
		fmt.Println(f.ID, f.Message)
	}
	// Output:
	// backup.age 10.0.0.2:7001 (server2-7001.rdb): saved 30h0m0s ago (2026-12-01T03:00:00Z), older than backup.max_age 24h0m0s
	// backup.entry 10.0.0.1:7001 (server1-7001.rdb): marked bad: redis-check-rdb: Wrong RDB checksum
	// backup.coverage 8192 of 16384 slots have no good file: 8192-16383
}
