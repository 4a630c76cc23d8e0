package migrate

import (
	"context"
	"time"
)

// A MIGRATE blocks its target as well as its source: the target restores
// the keys before it answers, and its own clients wait meanwhile. So a
// source's pace is decided on the worst of its own latency and that of
// each target it sent to lately, each against that node's own budget.
// Sources that send to one target all slow down when it is over budget:
// together they load it.

// routeWindows is how many pacing Windows after a source last sent to a
// target that target's latency still counts in the source's pace.
const routeWindows = 4

// pausePoll is how often a paused Wait looks whether the pause is over.
const pausePoll = 20 * time.Millisecond

// route records that n's source sends to dst at now. p.mu is held.
func (n *paceNode) route(dst string, now time.Time) {
	if dst == "" {
		return
	}
	if n.targets == nil {
		n.targets = map[string]time.Time{}
	}
	n.targets[dst] = now
}

// observe reads addr's latency and that of each target n sent to within
// routeWindows windows of now. It returns the reading that uses the
// largest share of its node's own budget, the options carrying that
// budget, and the node. A node without a usable reading is skipped; with
// none usable, addr's own (stale) reading is returned. p.mu is held.
func (p *Pacer) observe(addr string, n *paceNode, now time.Time) (Observation, PacerOptions, string) {
	read := func(a string) (Observation, PacerOptions) {
		var obs Observation
		obs.P99, obs.Avg, obs.At, obs.OK = p.src.Latency(a)
		o := p.opts
		if o.BudgetFor != nil {
			if p99, avg, ok := o.BudgetFor(a); ok {
				o.BudgetP99, o.BudgetAvg = p99, avg
			}
		}
		return obs, o
	}
	usable := func(obs Observation) bool { return obs.OK && now.Sub(obs.At) <= p.opts.MaxAge }
	obs, o := read(addr)
	node, worst := addr, o.used(obs)
	for dst, at := range n.targets {
		if now.Sub(at) > routeWindows*p.opts.Window {
			delete(n.targets, dst)
			continue
		}
		tobs, to := read(dst)
		if u := to.used(tobs); usable(tobs) && (!usable(obs) || u > worst) {
			obs, o, node, worst = tobs, to, dst, u
		}
	}
	return obs, o, node
}

// Steers reports whether addr's latency steers some source's pace now: it
// is a paced source, or a target a paced source sent to lately.
func (p *Pacer) Steers(addr string) bool {
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nodes[addr] != nil {
		return true
	}
	for _, n := range p.nodes {
		if at, ok := n.targets[addr]; ok && now.Sub(at) <= routeWindows*p.opts.Window {
			return true
		}
	}
	return false
}

// paused waits while PacerOptions.Paused reports true or the pacer is
// quiet (Quiet), or until ctx ends. Before it waits, addr's pace is judged
// on the reading that began the pause (see judgePaused).
func (p *Pacer) paused(ctx context.Context, addr string) error {
	if !p.isPaused() {
		return nil
	}
	p.judgePaused(addr)
	for p.isPaused() {
		t := time.NewTimer(pausePoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	p.mu.Lock()
	if n := p.nodes[addr]; n != nil {
		n.pauseJudged = false // the next pause is judged again
	}
	p.mu.Unlock()
	return nil
}

// isPaused reports whether no source may begin a pipeline now: an abort
// awaits its second look (PacerOptions.Paused), or a hold has quieted the
// pacer (Quiet).
func (p *Pacer) isPaused() bool {
	p.mu.Lock()
	quiet := p.quiet > 0
	p.mu.Unlock()
	return quiet || (p.opts.Paused != nil && p.opts.Paused())
}

// judgePaused cuts addr's pace, once per pause, if the latency of addr or
// of a target it sends to is over budget now, whenever it last decided.
//
// A pause is an abort awaiting its second look: a node read over an abort
// limit, which is beyond any budget. (Or a hold that quieted the sources
// to measure the baseline again, over a budget too.) The reading that
// began it is in the latency window now, but a look that clears restarts
// the window from its own calm samples. A source that waited for its next
// window to decide would then never see the reading, speed up again, and
// begin the next look: the spikes would stop the run, one look after
// another, instead of slowing it. Only a cut is kept here; a source whose
// own nodes are within budget keeps its pace.
func (p *Pacer) judgePaused(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nodes[addr]
	if n == nil || n.pauseJudged {
		return
	}
	n.pauseJudged = true
	p.decide(n, p.opts.Now(), true)
}
