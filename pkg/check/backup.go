package check

import (
	"fmt"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/measure"
	"github.com/slotshift/slotshift/pkg/report"
)

// CheckBackup reports backup.recent per reachable replica: the last
// background save succeeded and is younger than maxAge. Persistence being
// off is reported as a skip that says so.
func CheckBackup(inv *inventory.Inventory, l Live, now time.Time, maxAge time.Duration) []report.Check {
	var out []report.Check
	for _, o := range l.Snap.Reachable() {
		if o.Info["role"] != "slave" {
			continue
		}
		a := o.Addr
		var c report.Check
		save, hasSave := o.Config["save"]
		aof := strings.EqualFold(o.Config["appendonly"], "yes")
		rdbOff := hasSave && strings.TrimSpace(strings.Trim(save, `"`)) == ""
		switch {
		case rdbOff && !aof:
			c = New(IDBackup, report.Skip, a, "%s: persistence is disabled (save \"\", appendonly no): no backup to check", Label(inv, a))
		case o.Info["rdb_last_bgsave_status"] != "" && o.Info["rdb_last_bgsave_status"] != "ok":
			c = New(IDBackup, report.Fail, a, "%s: last background save failed (rdb_last_bgsave_status:%s)", Label(inv, a), o.Info["rdb_last_bgsave_status"])
			c.Hint = "look at the node's log: a failed save often means a full disk or a failed fork"
		case rdbOff:
			st := o.Info["aof_last_write_status"]
			c = New(IDBackup, report.Pass, a, "%s: RDB snapshots off, append-only file on (aof_last_write_status:%s)", Label(inv, a), st)
			if st != "" && st != "ok" {
				c.Status = report.Fail
			}
		default:
			t, err := measure.Float(o.Info, "rdb_last_save_time")
			if err != nil {
				c = New(IDBackup, report.Skip, a, "%s: rdb_last_save_time not reported", Label(inv, a))
				break
			}
			age := now.Sub(time.Unix(int64(t), 0)).Round(time.Second)
			c = New(IDBackup, report.Pass, a, "%s: last successful save %s ago (max %s)", Label(inv, a), age, maxAge)
			if maxAge > 0 && age > maxAge {
				c.Status = report.Warn
				c.Message = fmt.Sprintf("%s: last successful save %s ago, older than validate.backup_max_age %s", Label(inv, a), age, maxAge)
				c.Hint = "take a backup (BGSAVE on the replica) before changing the cluster"
			}
			c.Observed, c.Threshold, c.Unit = age.Seconds(), maxAge.Seconds(), "seconds"
		}
		c.File, c.Line = LineOf(inv, a)
		out = append(out, c)
	}
	return out
}

// CheckPlacement reports replication.placement per master of the live
