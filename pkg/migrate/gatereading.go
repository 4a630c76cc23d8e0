package migrate

import (
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/report"
)

// gateReadings turns a gate decision's readings into the report's.
func gateReadings(rs []gate.Reading) []report.GateReading {
	if rs == nil {
		return nil
	}
	out := make([]report.GateReading, len(rs))
	for i, r := range rs {
		out[i] = report.GateReading(r)
	}
	return out
}
