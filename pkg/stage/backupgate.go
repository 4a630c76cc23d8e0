package stage

import (
	"path/filepath"
	"time"

	"github.com/slotshift/slotshift/pkg/backup"
	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/report"
)

// backupHint is the remedy for any backup gate failure.
const backupHint = "run 'slotshift backup' and pass the manifest it writes (its output manifest)"

// CheckBackupManifest is the backup gate of validate (--backup-manifest)
// and rebalance (--require-backup): the manifest at path must be readable,
// be this cluster's, and have, for every hash slot, a good file (accepted
// by redis-check-rdb when it was taken, and still beside the manifest with
// the recorded size and SHA-256) saved no longer than backup.max_age
// before now. Every problem is a failed backup.manifest check naming the
// age or the missing slot ranges; a manifest without any is one passing
// check. It does no network I/O. path "" returns nil: no requirement.
func CheckBackupManifest(env Env, path string) []report.Check {
	if path == "" {
		return nil
	}
	now := time.Now()
	if env.Now != nil {
		now = env.Now()
	}
	fail := func(node, format string, a ...any) report.Check {
		c := check.New(IDBackupManifest, report.Fail, node, "backup manifest "+format, a...)
		c.Hint = backupHint
		return c
	}
	m, err := backup.Load(path)
	if err != nil {
		return []report.Check{fail("", "not usable: %v", err)}
	}
	var out []report.Check
	if name := env.Inventory.Cluster.Name; m.Cluster != name {
		out = append(out, fail("", "%s is of cluster %q, not %q", path, m.Cluster, name))
	}
	// A file that vanished or changed since the backup holds no slot:
	// leave its entry out of the coverage count.
	changed := map[string]bool{}
	for _, f := range backup.VerifyFiles(filepath.Dir(path), m) {
		changed[f.Node] = true
		out = append(out, fail(f.Node, "%s: %s", path, f.Message))
	}
	kept := *m
	kept.Entries = nil
	for _, e := range m.Entries {
		if !changed[e.Node] {
			kept.Entries = append(kept.Entries, e)
		}
	}
	maxAge := env.Inventory.Backup.MaxAge.Duration
	for _, f := range backup.CheckManifest(&kept, now, maxAge, backup.AllSlots()) {
		c := fail(f.Node, "%s: %s", path, f.Message)
		switch f.ID {
		case backup.IDAge:
			c.Observed, c.Threshold, c.Unit = f.Age.Round(time.Second).Seconds(), maxAge.Seconds(), "seconds"
		case backup.IDCoverage:
			missing := cluster.NewSlotSet(f.Missing...)
			c.Observed, c.Threshold, c.Unit = cluster.NumSlots-missing.Len(), cluster.NumSlots, "slots"
		}
		out = append(out, c)
	}
	if len(out) > 0 {
		return out
	}
	oldest := time.Duration(0)
	for _, e := range m.Entries {
		if e.Status == backup.Good {
			oldest = max(oldest, now.Sub(e.LastSave))
		}
	}
	c := check.New(IDBackupManifest, report.Pass, "", "backup manifest %s (taken %s): %d good files cover all %d slots; oldest saved %s ago (backup.max_age %s)",
		path, m.CreatedAt.UTC().Format(time.RFC3339), len(m.Entries), cluster.NumSlots, oldest.Round(time.Second), maxAge)
	c.Observed, c.Threshold, c.Unit = oldest.Round(time.Second).Seconds(), maxAge.Seconds(), "seconds"
	return []report.Check{c}
}
