package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/slotshift/slotshift/pkg/load"
)

// Steal is CPU time the hypervisor gave to something else while this
// machine's CPUs had work: on a shared virtual machine it stalls every
// process at once, the nodes and the client load alike, and the client
// reads it as latency that no mover caused. The benchmark samples it once a
// second beside the client load, so a slow second can be laid beside the
// steal in it, and each window's ratio judged knowing how much the host
// took.

// userHZ is the unit of /proc/stat's times: USER_HZ, 100 on every Linux
// architecture Go builds for.
const userHZ = 100

// parseSteal returns the steal field of /proc/stat's first line ("cpu",
// all CPUs summed), the eighth number after the label; ok is false when
// the line is missing, short (a kernel before 2.6.11) or not numbers.
func parseSteal(stat []byte) (time.Duration, bool) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, false
	}
	ticks, err := strconv.ParseUint(string(f[8]), 10, 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(ticks) * time.Second / userHZ, true
}

// readSteal reads the machine's steal so far; ok is false where there is no
// /proc/stat (not Linux) or it carries no steal.
func readSteal() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	return parseSteal(b)
}

// stealSampler reads the steal once a second from start: per[i] is the
// steal in second i after start, in the client load's seconds.
type stealSampler struct {
	start time.Time
	done  chan struct{}
	stopO sync.Once

	mu  sync.Mutex
	per []time.Duration
}

// startSteal samples until stop or ctx's end; nil when the machine shows
// no steal to read.
func startSteal(ctx context.Context, start time.Time) *stealSampler {
	last, ok := readSteal()
	if !ok {
		return nil
	}
	s := &stealSampler{start: start, done: make(chan struct{})}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.done:
				return
			case now := <-t.C:
				cur, ok := readSteal()
				if !ok {
					continue
				}
				s.add(now.Sub(s.start), max(0, cur-last))
				last = cur
			}
		}
	}()
	return s
}

// add books d of steal, read at offset at, to the second that ended then.
func (s *stealSampler) add(at, d time.Duration) {
	i := max(0, int((at-time.Second/2)/time.Second))
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.per) <= i {
		s.per = append(s.per, 0)
	}
	s.per[i] += d
}

// stop ends the sampling and returns the steal per second; nil for a nil
// sampler.
func (s *stealSampler) stop() []time.Duration {
	if s == nil {
		return nil
	}
	s.stopO.Do(func() { close(s.done) })
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.per...)
}

// stealRates returns the steal per second of the windows around a
// rebalance [from, to] (offsets from the load's start), in milliseconds of
// steal per second of window, with the seconds classed as the client's
// are (see secondWindow). A window with no second reads 0. Pure.
func stealRates(per []time.Duration, from, to time.Duration) (before, during, after float64) {
	var sum [windowAfter + 1]time.Duration
	var n [windowAfter + 1]int
	for i, d := range per {
		w := secondWindow(i, from, to)
		sum[w] += d
		n[w]++
	}
	rate := func(w int) float64 {
		if n[w] == 0 {
			return 0
		}
		return float64(sum[w]) / float64(time.Millisecond) / float64(n[w])
	}
	return rate(windowBefore), rate(windowDuring), rate(windowAfter)
}

// stealTick is the steal counter's resolution, one USER_HZ tick: a second
// that read no more had no stall worth the name (on this project's machine
// a calm second reads 0 or 10 ms, one in slow seconds 90-800 ms).
const stealTick = time.Second / userHZ

// calmRatio is the ops-weighted mean of per-second p99s (see secondsP99)
// during the rebalance [from, to] over the same mean before and after it,
// counting only the seconds whose steal was at most stealTick: the mover's
// cost to a typical second with the host's stalls left out of both sides.
// Seconds are classed as secondWindow classes them; a second past the
// steal read counts as stalled. ref and during are how many seconds each side
// kept; the ratio is 0 when either kept none. Pure.
func calmRatio(secs []load.Second, steal []time.Duration, from, to time.Duration) (ratio float64, ref, during int) {
	var around, in []load.Second
	for _, s := range secs {
		if s.Second < 0 || s.Second >= len(steal) || steal[s.Second] > stealTick || s.Latency.Count == 0 {
			continue
		}
		switch secondWindow(s.Second, from, to) {
		case windowBefore, windowAfter:
			around = append(around, s)
		case windowDuring:
			in = append(in, s)
		}
	}
	if r, d := secondsP99(around), secondsP99(in); r > 0 && d > 0 {
		ratio = d / r
	}
	return ratio, len(around), len(in)
}
