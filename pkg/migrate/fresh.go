package migrate

import (
	"fmt"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/plan"
)

// CheckFresh returns ErrPlanStale when snap's slot map is not the one p was
// planned from. It does no I/O.
func CheckFresh(snap *cluster.Snapshot, p plan.Rebalance) error {
	if snap == nil {
		return fmt.Errorf("%w: no snapshot", ErrPlanStale)
	}
	if got := cluster.Fingerprint(snap.View()); got != p.Fingerprint {
		return fmt.Errorf("%w (plan %s, cluster %s)", ErrPlanStale, p.Fingerprint, got)
	}
	return nil
}
