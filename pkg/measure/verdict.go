package measure

import (
	"fmt"

	"github.com/slotshift/slotshift/pkg/inventory"
)

// Verdict grades one value against a gate threshold, or a whole set of
// readings (see gate.Decide).
type Verdict int

// Verdicts, in increasing severity.
const (
	Proceed Verdict = iota
	Hold
	Abort
)

// String returns "proceed", "hold" or "abort" (the report's decision words).
func (v Verdict) String() string {
	switch v {
	case Proceed:
		return "proceed"
	case Hold:
		return "hold"
	case Abort:
		return "abort"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Classify grades value against t: above t.Abort aborts, above t.Hold
// holds, anything else proceeds. A limit of 0 is unset and never fires.
// Validate and verify grade their gate checks with it (abort → fail,
// hold → warn) exactly as rebalance's gates grade a batch.
func Classify(value float64, t inventory.Threshold) Verdict {
	switch {
	case t.Abort > 0 && value > t.Abort:
		return Abort
	case t.Hold > 0 && value > t.Hold:
		return Hold
	}
	return Proceed
}
