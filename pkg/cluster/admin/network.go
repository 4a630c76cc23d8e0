package admin

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Traffic is a node's network rate as INFO stats reports it. Redis
// samples total_net_*_bytes every 100ms and reports the recent rate
// divided by 1024: the unit is KiB/s, not kilobits.
type Traffic struct {
	InputKBps  float64 // instantaneous_input_kbps
	OutputKBps float64 // instantaneous_output_kbps
}

// Traffic reads INFO stats on the node at addr.
func (p *Pool) Traffic(ctx context.Context, addr string) (Traffic, error) {
	info, err := p.Info(ctx, addr, "stats")
	if err != nil {
		return Traffic{}, err
	}
	var t Traffic
	for key, dst := range map[string]*float64{"instantaneous_input_kbps": &t.InputKBps, "instantaneous_output_kbps": &t.OutputKBps} {
		s := strings.TrimSpace(info[key])
		if s == "" {
			return Traffic{}, fmt.Errorf("INFO stats has no %s", key)
		}
		if *dst, err = strconv.ParseFloat(s, 64); err != nil {
			return Traffic{}, fmt.Errorf("INFO stats %s=%q: %w", key, s, err)
		}
	}
	return t, nil
}
