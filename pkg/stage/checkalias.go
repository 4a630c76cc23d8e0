package stage

import (
	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
)

// Live is check.Live for the procedures of this package; see check.Live.
// It keeps the unexported spellings the rebalance stage uses (byID) until
// that stage calls check.Live's methods directly.
type Live struct{ check.Live }

// NewLive derives the live view from a snapshot. It does no I/O.
func NewLive(snap *cluster.Snapshot) Live { return Live{check.NewLive(snap)} }

// byID forwards to check.Live.ByID.
func (l Live) byID(id string) (cluster.Node, bool) { return l.ByID(id) }

// notCreated is the message of checks skipped before join.
const notCreated = check.NotCreated

// serverOf forwards to check.ServerOf.
func serverOf(inv *inventory.Inventory, addr string) string { return check.ServerOf(inv, addr) }
