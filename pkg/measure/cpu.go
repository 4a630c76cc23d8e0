package measure

import (
	"errors"
	"time"
)

// CPUSample is a node's CPU time (used_cpu_sys + used_cpu_user, seconds)
// at the moment it was read.
type CPUSample struct {
	At      time.Time
	Seconds float64
}

// CPUSeconds reads used_cpu_sys + used_cpu_user from INFO cpu fields.
func CPUSeconds(info map[string]string) (float64, error) {
	sys, err1 := Float(info, "used_cpu_sys")
	usr, err2 := Float(info, "used_cpu_user")
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return sys + usr, nil
}

// CPUPercent is the CPU a node used between two samples, in percent of
// one core (never below 0: a restarted node's counter starts over). ok is
// false when no wall time passed between them.
func CPUPercent(prev, cur CPUSample) (pct float64, ok bool) {
	wall := cur.At.Sub(prev.At).Seconds()
	if wall <= 0 {
		return 0, false
	}
	return max(0, (cur.Seconds-prev.Seconds)/wall*100), true
}
