package migrate

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// LatencySource reads a node's recent latency, as clients see it. The gate
// monitor's PING probe is one; migrate does not depend on it.
type LatencySource interface {
	// Latency returns addr's p99 and average latency, when they were read,
	// and ok=false when there is no usable reading (none yet, or the probe
	// fails).
	Latency(addr string) (p99, avg time.Duration, at time.Time, ok bool)
}

// Verdicts of one pacing decision, as recorded in Pace.Verdict.
const (
	VerdictStart  = "start"  // first pace of a source
	VerdictSlower = "slower" // over budget: cut keys and depth, rest longer
	VerdictFaster = "faster" // well under budget: one additive step up
	VerdictHold   = "hold"   // near the budget: keep the pace
	VerdictSettle = "settle" // over budget, but no worse than at the last cut, which the signal may not show yet
	VerdictStale  = "stale"  // no fresh reading: keep the pace, never speed up
)

// PacerOptions tune a Pacer. Zero values take the defaults.
type PacerOptions struct {
	// BudgetP99 and BudgetAvg are the latency the source may show while it
	// sends keys; the pacer slows down when either is exceeded. Callers pass
	// the gates' hold thresholds. Zero disables that half of the budget;
	// with both zero the pacer never slows down.
	BudgetP99, BudgetAvg time.Duration
	// BudgetFor, when set, gives a source its own budget, which replaces
	// BudgetP99 and BudgetAvg for it (ok false: use them). Callers set it
	// from the latency variation gate: each node's baseline plus the
	// variation it may show.
	BudgetFor func(addr string) (p99, avg time.Duration, ok bool)
	// Window is how often a source's pace is reconsidered. Default 250ms.
	Window time.Duration
	// Settle is how long after a cut the latency signal may still show the
	// load from before it (the probe's averaging window). Within it, a
	// reading no worse than the one that caused the cut does not cut again,
	// so one spike does not drive the pace to the floor. It also bounds
	// exhaustion from both sides: a reading within Settle of reaching the
	// slowest pace is not judged, since it may still show the faster
	// pace's load, and the judged readings must stay over budget for
	// Settle (one probe window after the first, so two that share no
	// sample) before the pace is exhausted: a gate that holds the run looks
	// twice. Default 0: the first reading at the slowest pace judges.
	Settle time.Duration
	// MaxAge is the oldest reading judged; an older one counts as missing.
	// Default 1s.
	MaxAge time.Duration
	// Headroom is the fraction of the budget under which the pace goes up;
	// between it and the budget the pace holds. Default 0.8.
	Headroom float64
	// MinKeys, MaxKeys and StartKeys bound and start the keys per MIGRATE:
	// one MIGRATE blocks its source for as long as the target takes to
	// restore them. Defaults 10, 1000, 100.
	MinKeys, MaxKeys, StartKeys int
	// KeysStep is the additive step of keys per MIGRATE. Default 50.
	KeysStep int
	// MaxBytes is the most bytes per MIGRATE at MaxKeys; the cap follows
	// the keys (MaxBytes×Keys/MaxKeys, at least MinBytes), so that a cut
	// shortens a MIGRATE of large values as it does one of small ones:
	// ten keys of a megabyte block the source as long as a thousand of
	// ten kilobytes. A MIGRATE always carries at least one key. Defaults
	// 4 MiB (the legacy mover's BytesPerMigrate) and 16 KiB.
	MaxBytes, MinBytes int64
	// Gentle starts each source at MinKeys, one MIGRATE per pipeline and
	// a rest of GentleRest rather than at StartKeys at full duty; it then
	// rises one step per window while the readings stay under the
	// headroom (keys still double until the first cut), and cuts down to
	// MaxRest. Callers set it when the budget sits near the calm baseline
	// (the latency variation gate): there a burst at full duty breaks the
	// budget before the first reading can cut it.
	Gentle bool
	// GentleRest is the rest a Gentle source starts at. Default 32, at
	// most SteadyRest. It is below SteadyRest so that a source whose
	// budget its start already keeps does not spend minutes climbing from
	// the floor (each raise takes RestStep off: 96 s from 128 to 32).
	GentleRest float64
	// MaxDepth is the most MIGRATEs per pipeline; the mover also caps it at
	// LegacyOptions.MigratesPerPipeline. Default 2 (that option's default).
	// A source starts at MaxDepth.
	MaxDepth int
	// MaxRest and RestStep bound the duty cycle: after each MIGRATE
	// pipeline a source rests Rest times as long as the pipeline took, so
	// it spends 1/(1+Rest) of its time on MIGRATE. The first cut rests
	// RestStep, each further cut doubles it up to MaxRest; each raise takes
	// RestStep off (up to SteadyRest: see there). A pause proportional to
	// the work keeps a pipeline of one small key from costing a long fixed
	// wait. Defaults 512 and 0.25.
	// The benchmark's cluster, its keys moved at a fixed pace of 10 keys
	// per MIGRATE under the absolute gates (no hold): resting 32× took
	// 128 s with the independent client's p99 at 1.38× its p99 at rest;
	// resting 64× took 279 s at 1.13×. With the floor at 32, the seed
	// gates (a 10% variation) kept sources at it for 43% of a run and
	// held at batch boundaries 26-39 times a run, since the slowest pace
	// still broke their budget. The variation gate's budget is what
	// reaches this far; the absolute gates' is seldom reached at all. A
	// raise of an eighth of the rest (at least RestStep) was measured and
	// not kept: a faster climb meets the budget sooner and holds more.
	//
	// MaxRest is the slowest pace, where the pace is exhausted; rests
	// above SteadyRest are a dip below the steady floor (see SteadyRest).
	// MaxPause caps a rest this deep: 512 times a 10-key MIGRATE of the
	// benchmark's cluster (about 0.39 ms) is 200 ms.
	MaxRest, RestStep float64
	// SteadyRest is the slowest pace a source climbs back from additively,
	// at most MaxRest. Cuts go on doubling the rest beyond it up to
	// MaxRest, and every reading within budget halves the rest (down to
	// SteadyRest) rather than taking RestStep off: a reading over budget
	// at the steady floor slows the source for a moment rather than
	// holding the run. A dip ends on the first reading within budget, as
	// a hold at the floor did, not under the Headroom: ending there, the
	// benchmark's seed runs spent 5-30% of their sources' time below the
	// floor and took a third longer (562 s against 420 s in one A/B pair).
	// Default 128.
	//
	// Why: at a floor of 128 the benchmark's seed runs held 7 and 6 times
	// on a calm host. Six of the first run's seven holds ended within
	// 0.4-3 s once the sources rested: bouts over budget (0.4-0.7 ms
	// against 0.4 ms), not a latency the floor could not keep. A floor of
	// 256 all along held 3 times but took 799 s against 392-439 s.
	SteadyRest float64
	// MaxPause caps one pause between two MIGRATE pipelines of one source.
	// Default 200ms.
	MaxPause time.Duration
	// Paused, when set, is asked before each pipeline: while it reports
	// true no source sends (Wait waits). The stage pauses while an abort
	// awaits its second look, so the look judges the nodes without this
	// run's load. Nil: never paused.
	Paused func() bool
	// History is how many pace changes are kept per source. Default 256.
	History int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o PacerOptions) withDefaults() PacerOptions {
	if o.Window <= 0 {
		o.Window = 250 * time.Millisecond
	}
	if o.MaxAge <= 0 {
		o.MaxAge = time.Second
	}
	if o.Headroom <= 0 || o.Headroom > 1 {
		o.Headroom = 0.8
	}
	if o.MinKeys <= 0 {
		o.MinKeys = 10
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 1000
	}
	o.MaxKeys = max(o.MaxKeys, o.MinKeys)
	if o.StartKeys <= 0 {
		o.StartKeys = 100
	}
	o.StartKeys = min(max(o.StartKeys, o.MinKeys), o.MaxKeys)
	if o.KeysStep <= 0 {
		o.KeysStep = 50
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = 2
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 4 << 20
	}
	if o.MinBytes <= 0 {
		o.MinBytes = 16 << 10
	}
	o.MinBytes = min(o.MinBytes, o.MaxBytes)
	if o.MaxPause <= 0 {
		o.MaxPause = 200 * time.Millisecond
	}
	if o.MaxRest <= 0 {
		o.MaxRest = 512
	}
	if o.SteadyRest <= 0 {
		o.SteadyRest = 128
	}
	o.SteadyRest = min(o.SteadyRest, o.MaxRest)
	if o.RestStep <= 0 {
		o.RestStep = 0.25
	}
	o.RestStep = min(o.RestStep, o.MaxRest)
	if o.GentleRest <= 0 {
		o.GentleRest = 32
	}
	o.GentleRest = min(o.GentleRest, o.SteadyRest)
	if o.History <= 0 {
		o.History = 256
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Pace is how one source sends keys, and why.
type Pace struct {
	Addr string    `json:"addr"`
	At   time.Time `json:"at"` // when it was decided
	// Keys is the most keys per MIGRATE, Depth the most MIGRATEs per
	// pipeline, Rest the pause after each pipeline as a multiple of the
	// time it took (see PacerOptions.MaxRest).
	Keys  int     `json:"keys"`
	Depth int     `json:"depth"`
	Rest  float64 `json:"rest"`
	// P99 and Avg are the reading judged; BudgetUsed is the larger of their
	// ratios to the budget (0 with no reading). Node is whose reading it
	// was: the source, or a target it sends to (see observe).
	Node       string        `json:"node,omitempty"`
	P99        time.Duration `json:"p99_ns"`
	Avg        time.Duration `json:"avg_ns"`
	BudgetUsed float64       `json:"budget_used"`
	Verdict    string        `json:"verdict"`
	// Exhausted: at the slowest pace and still over budget, for Settle
	// (see PacerOptions.Settle). Pacing can do no more; the caller should
	// hold at its next boundary.
	Exhausted bool `json:"exhausted"`
	// KeysPerSec is what the source sent during the window before At.
	KeysPerSec float64 `json:"keys_per_sec"`

	cutAt   time.Time // last cut
	cutUsed float64   // BudgetUsed that caused it
	// floorAt is when the pace last reached the slowest; zero for a pace
	// above it, or one made at the slowest without a history (judged as
	// reached long ago).
	floorAt time.Time
	// overAt is when the slowest pace first read over budget on a judged
	// reading, with every reading since over budget too (or missing); zero
	// otherwise.
	overAt time.Time
	// budgetP99 and budgetAvg are the budget P99 and Avg were judged on.
	budgetP99, budgetAvg time.Duration
}

// Level is the pace as a fraction of the fastest, from near 0 (slowest) to
// 1: keys and depth scale the burst, Rest the share of time spent sending.
func (p *Pacer) Level(pc Pace) float64 {
	o := p.opts
	keys := float64(pc.Keys-o.MinKeys+1) / float64(o.MaxKeys-o.MinKeys+1)
	depth := float64(pc.Depth) / float64(o.MaxDepth)
	duty := 1 / (1 + pc.Rest)
	return keys * depth * duty
}

// slowest reports whether no knob can go slower.
func (p Pace) slowest(o PacerOptions) bool {
	return p.Keys <= o.MinKeys && p.Depth <= 1 && p.Rest >= o.MaxRest
}

// dipped reports whether pc rests below the steady floor (see
// SteadyRest).
func (o PacerOptions) dipped(pc Pace) bool { return pc.Rest > o.SteadyRest }

// Bytes is the most bytes per MIGRATE at pc (see PacerOptions.MaxBytes).
func (o PacerOptions) Bytes(pc Pace) int64 {
	return max(o.MinBytes, o.MaxBytes*int64(pc.Keys)/int64(o.MaxKeys))
}

// first is a source's first pace: StartKeys at full duty, or with Gentle
// MinKeys resting GentleRest.
func (o PacerOptions) first(addr string, now time.Time) Pace {
	if o.Gentle {
		return Pace{Addr: addr, At: now, Keys: o.MinKeys, Depth: 1, Rest: o.GentleRest, Verdict: VerdictStart}
	}
	return Pace{Addr: addr, At: now, Keys: o.StartKeys, Depth: o.MaxDepth, Verdict: VerdictStart}
}

// Observation is one latency reading of a source.
type Observation struct {
	P99, Avg time.Duration
	At       time.Time
	OK       bool
}

// used returns the share of the budget obs uses; 0 with no budget set.
func (o PacerOptions) used(obs Observation) float64 {
	u := 0.0
	if o.BudgetP99 > 0 {
		u = max(u, float64(obs.P99)/float64(o.BudgetP99))
	}
	if o.BudgetAvg > 0 {
		u = max(u, float64(obs.Avg)/float64(o.BudgetAvg))
	}
	return u
}

// Decide returns the pace that follows cur after obs, at now. It is pure:
// cuts are multiplicative (keys and depth halve, Rest doubles from
// RestStep), raises additive and one knob at a time (Rest shrinks by
// RestStep, then depth grows by one, then keys by KeysStep). Before a
// source's first cut, keys double instead (slow start, as in TCP). o must have
// its defaults applied (NewPacer does).
func (o PacerOptions) Decide(cur Pace, obs Observation, now time.Time) Pace {
	next := o.decide(cur, obs, now)
	next.floorAt = floorSince(cur, next, o, now)
	next.overAt, next.Exhausted = o.exhaustion(cur, next, now)
	return next
}

// exhaustion returns next's overAt and Exhausted: the slowest pace is
// exhausted once it has read over budget, on readings taken at least
// Settle after it got there, for Settle. A missing reading changes
// nothing; one within budget, or a pace above the slowest, starts again.
func (o PacerOptions) exhaustion(cur, next Pace, now time.Time) (time.Time, bool) {
	switch {
	case next.Verdict == VerdictStale:
		return cur.overAt, cur.Exhausted
	case next.BudgetUsed <= 1 || !cur.slowest(o) || now.Sub(cur.floorAt) < o.Settle:
		return time.Time{}, false
	}
	over := cur.overAt
	if over.IsZero() {
		over = now
	}
	return over, now.Sub(over) >= o.Settle
}

// decide is Decide but for floorAt, overAt and Exhausted.
func (o PacerOptions) decide(cur Pace, obs Observation, now time.Time) Pace {
	next := cur
	next.At = now
	if !obs.OK || now.Sub(obs.At) > o.MaxAge {
		next.Verdict = VerdictStale
		next.P99, next.Avg, next.BudgetUsed = 0, 0, 0
		return next
	}
	u := o.used(obs)
	next.P99, next.Avg, next.BudgetUsed = obs.P99, obs.Avg, u
	next.budgetP99, next.budgetAvg = o.BudgetP99, o.BudgetAvg
	switch {
	case u > 1:
		if !cur.cutAt.IsZero() && now.Sub(cur.cutAt) < o.Settle && u <= cur.cutUsed {
			next.Verdict = VerdictSettle
			return next
		}
		next.Verdict = VerdictSlower
		next.Keys = max(o.MinKeys, cur.Keys/2)
		next.Depth = max(1, cur.Depth/2)
		next.Rest = min(o.MaxRest, max(o.RestStep, 2*cur.Rest))
		next.cutAt, next.cutUsed = now, u
	case cur.Rest > o.SteadyRest:
		// Within budget again, a dip below the steady floor ends as fast
		// as it began (see SteadyRest).
		next.Verdict = VerdictFaster
		next.Rest = max(o.SteadyRest, cur.Rest/2)
	case u >= o.Headroom:
		next.Verdict = VerdictHold
	default:
		next.Verdict = VerdictFaster
		switch {
		case cur.Rest > 0:
			next.Rest = max(0, cur.Rest-o.RestStep)
		case cur.Depth < o.MaxDepth:
			next.Depth = cur.Depth + 1
		case cur.Keys < o.MaxKeys && cur.cutAt.IsZero():
			// Slow start: until the budget is first exceeded there is
			// no sign of the source's limit, so keys double, reaching
			// the ceiling in a few windows rather than many.
			next.Keys = min(o.MaxKeys, 2*cur.Keys)
		case cur.Keys < o.MaxKeys:
			next.Keys = min(o.MaxKeys, cur.Keys+o.KeysStep)
		default:
			next.Verdict = VerdictHold
		}
	}
	return next
}

// floorSince returns next's floorAt: when the pace reached the slowest, kept
// while it stays there.
func floorSince(cur, next Pace, o PacerOptions, now time.Time) time.Time {
	switch {
	case !next.slowest(o):
		return time.Time{}
	case cur.slowest(o):
		return cur.floorAt
	}
	return now
}

// Pacer paces each source node of a move by its latency against a budget:
// a closed loop around the legacy mover's keys per MIGRATE, MIGRATEs per
// pipeline and pause between pipelines, reconsidered once per Window (not
// per batch) with additive increase and multiplicative decrease. It is safe
// for concurrent use.
type Pacer struct {
	src  LatencySource
	opts PacerOptions

	mu     sync.Mutex
	nodes  map[string]*paceNode
	levels [levelBuckets + 1]int // decisions per Level, in 1/levelBuckets steps
	min    float64               // lowest Level decided; 0 before any
	// lastExhausted is the latest exhausted pace of any source, for
	// Summary; zero before any.
	lastExhausted Pace
	// pipelines counts the pipelines begun, of any source.
	pipelines uint64
	// quiet counts the Quiet calls not yet released: while it is above
	// zero no source begins a pipeline.
	quiet int
	// sleep rests d or until ctx ends; nil is a timer. Tests replace it
	// to see the rests without timing them.
	sleep func(ctx context.Context, d time.Duration)
}

// minRest is the shortest rest a source takes. The runtime's timers do not
// wake sooner than about a millisecond: on this project's machine a sleep
// of 20µs, 100µs or 300µs took 1.09ms. A source pacing 10-key MIGRATEs of
// about 0.15ms at rest 0.25 would so rest 7 times longer than the pace
// says, and every rest up to about 7 would be the same real pace (in the
// benchmark, rest 0.5 took 39s where no rest took 8s). Rests shorter than
// minRest are owed instead and taken together once they add up to it.
const minRest = 2 * time.Millisecond

// levelBuckets is the resolution of Summary's median.
const levelBuckets = 100

type paceNode struct {
	cur     Pace
	moved   int64         // keys sent since cur.At
	busy    time.Duration // what the last pipeline took; 0 once rested after
	history []Pace
	// targets are the nodes the source sent to, and when it last did.
	targets map[string]time.Time
	// exhausted is how long the source has spent exhausted, up to cur.At;
	// dipped how long it rested more than SteadyRest.
	exhausted, dipped time.Duration
	// pauseJudged: the source was judged in the current pause (see
	// judgePaused).
	pauseJudged bool
	// sending: a pipeline is under way (from Wait to Sent).
	sending bool
	// owed is the rest the source owes but has not taken (see minRest).
	owed time.Duration
}

// spent returns how long n has spent exhausted and below the steady floor
// up to now: the totals up to cur.At, plus the time since if cur is so.
func (n *paceNode) spent(o PacerOptions, now time.Time) (exhausted, dipped time.Duration) {
	exhausted, dipped = n.exhausted, n.dipped
	if n.cur.Exhausted {
		exhausted += now.Sub(n.cur.At)
	}
	if o.dipped(n.cur) {
		dipped += now.Sub(n.cur.At)
	}
	return exhausted, dipped
}

// owe adds pause, the rest after one pipeline at rest factor rest, to the
// debt *owed, and returns how long to rest now: all of it once it reaches
// minRest, else nothing. A pace without rest forgives the debt (full duty
// is what it asks for); the debt never exceeds maxPause.
func owe(owed *time.Duration, pause time.Duration, rest float64, maxPause time.Duration) time.Duration {
	if rest <= 0 {
		*owed = 0
		return 0
	}
	*owed = min(*owed+pause, maxPause)
	if *owed < minRest {
		return 0
	}
	d := *owed
	*owed = 0
	return d
}

// NewPacer returns a Pacer reading src.
func NewPacer(src LatencySource, opts PacerOptions) *Pacer {
	return &Pacer{src: src, opts: opts.withDefaults(), nodes: map[string]*paceNode{}}
}

// Options returns the options in effect, defaults applied.
func (p *Pacer) Options() PacerOptions { return p.opts }

// Current returns addr's pace, deciding a new one first when a Window has
// passed since the last decision.
func (p *Pacer) Current(addr string) Pace {
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nodes[addr]
	if n == nil {
		n = &paceNode{cur: p.opts.first(addr, now)}
		n.history = append(n.history, n.cur)
		p.nodes[addr] = n
		return n.cur
	}
	if now.Sub(n.cur.At) < p.opts.Window {
		return n.cur
	}
	p.decide(n, now, false)
	return n.cur
}

// decide judges n's latency at now and makes the result its pace. With
// onlyCut, only a cut is kept: any other verdict leaves the pace as it
// was (see judgePaused). p.mu is held.
func (p *Pacer) decide(n *paceNode, now time.Time, onlyCut bool) {
	obs, o, node := p.observe(n.cur.Addr, n, now)
	next := o.Decide(n.cur, obs, now)
	if onlyCut && next.Verdict != VerdictSlower {
		return
	}
	if next.Verdict != VerdictStale {
		next.Node = node
	}
	if el := now.Sub(n.cur.At); el > 0 {
		next.KeysPerSec = float64(n.moved) / el.Seconds()
	}
	n.moved = 0
	n.exhausted, n.dipped = n.spent(p.opts, now)
	p.count(next)
	if next.Exhausted {
		p.lastExhausted = next
	}
	changed := next.Keys != n.cur.Keys || next.Depth != n.cur.Depth || next.Rest != n.cur.Rest ||
		next.Exhausted != n.cur.Exhausted || next.Verdict != n.cur.Verdict
	n.cur = next
	if changed {
		n.history = append(n.history, next)
		if over := len(n.history) - p.opts.History; over > 0 {
			n.history = append(n.history[:0:0], n.history[over:]...)
		}
	}
}

// count records a decided pace for Summary. p.mu is held.
func (p *Pacer) count(pc Pace) {
	l := p.Level(pc)
	if p.levels == [levelBuckets + 1]int{} || l < p.min {
		p.min = l
	}
	p.levels[int(math.Round(min(1, max(0, l))*levelBuckets))]++
}

// PaceSummary is what a Pacer did over a run.
type PaceSummary struct {
	Sources   int // sources paced
	Decisions int // paces decided after the first of each source
	// MinLevel and MedianLevel are over the decisions (see Pacer.Level);
	// the median to 1/100. Both 0 without decisions.
	MinLevel, MedianLevel float64
	// Exhausted is the time sources spent exhausted, summed over sources.
	Exhausted time.Duration
	// Dipped is the time sources spent below the steady floor (resting
	// more than PacerOptions.SteadyRest), summed over sources: how long
	// the controller slowed down past it rather than holding the run.
	Dipped time.Duration
	// LastExhausted says why the latest exhausted pace of any source was
	// (see exhaustedReason); empty when none was.
	LastExhausted string
	// Slowest describes the slowest pace, for messages.
	Slowest string
}

// Summary returns what the pacer did so far.
func (p *Pacer) Summary() PaceSummary {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := PaceSummary{Sources: len(p.nodes), MinLevel: p.min,
		Slowest: fmt.Sprintf("%d keys (at most %d KiB) per MIGRATE, one MIGRATE per pipeline, resting %g× the time each took (at most %s)",
			p.opts.MinKeys, p.opts.Bytes(Pace{Keys: p.opts.MinKeys})>>10, p.opts.MaxRest, p.opts.MaxPause)}
	now := p.opts.Now()
	for _, n := range p.nodes {
		exhausted, dipped := n.spent(p.opts, now)
		s.Exhausted += exhausted
		s.Dipped += dipped
	}
	if p.lastExhausted.Exhausted {
		s.LastExhausted = exhaustedReason(p.lastExhausted)
	}
	for _, c := range p.levels {
		s.Decisions += c
	}
	seen := 0
	for i, c := range p.levels {
		if seen += c; c > 0 && 2*seen >= s.Decisions {
			s.MedianLevel = float64(i) / levelBuckets
			break
		}
	}
	return s
}

// PaceStatus is a source's pace as the status line, progress events and
// reports show it.
type PaceStatus struct {
	Addr       string  `json:"addr"`
	Level      float64 `json:"level"` // see Pacer.Level
	Keys       int     `json:"keys_per_migrate"`
	Bytes      int64   `json:"bytes_per_migrate"`
	Depth      int     `json:"depth"`
	Rest       float64 `json:"rest"`
	BudgetUsed float64 `json:"budget_used"`
	Exhausted  bool    `json:"exhausted"`
}

// Status returns pc as a PaceStatus.
func (p *Pacer) Status(pc Pace) PaceStatus {
	return PaceStatus{Addr: pc.Addr, Level: p.Level(pc), Keys: pc.Keys, Bytes: p.opts.Bytes(pc), Depth: pc.Depth, Rest: pc.Rest,
		BudgetUsed: pc.BudgetUsed, Exhausted: pc.Exhausted}
}

// Slowest returns the slowest pace among the sources decided on within
// the last few windows (those still sending); ok=false when there is none.
func (p *Pacer) Slowest() (st PaceStatus, ok bool) {
	since := p.opts.Now().Add(-4 * p.opts.Window)
	for _, pc := range p.Snapshot() {
		if pc.At.Before(since) {
			continue
		}
		if s := p.Status(pc); !ok || s.Level < st.Level {
			st, ok = s, true
		}
	}
	return st, ok
}

// Last returns addr's latest pace without deciding a new one; ok=false
// when addr has not been paced.
func (p *Pacer) Last(addr string) (pc Pace, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := p.nodes[addr]; n != nil {
		return n.cur, true
	}
	return Pace{}, false
}

// Pause is how long to rest at pace pc after a pipeline that took busy:
// Rest times busy, at most MaxPause.
func (o PacerOptions) Pause(pc Pace, busy time.Duration) time.Duration {
	return min(o.MaxPause, time.Duration(pc.Rest*float64(busy)))
}

// Wait rests after addr's last pipeline (see Pause; rests under minRest are
// owed and taken together), or until ctx ends, and
// returns the pace to send the next pipeline to dst at. It also waits
// while the pacer is paused (PacerOptions.Paused).
func (p *Pacer) Wait(ctx context.Context, addr, dst string) (Pace, error) {
	if err := p.paused(ctx, addr); err != nil {
		return Pace{}, err
	}
	pc := p.Current(addr)
	p.mu.Lock()
	n := p.nodes[addr]
	n.route(dst, p.opts.Now())
	pause := owe(&n.owed, p.opts.Pause(pc, n.busy), pc.Rest, p.opts.MaxPause)
	n.busy = 0
	p.mu.Unlock()
	p.rest(ctx, pause)
	if err := ctx.Err(); err != nil {
		return pc, err
	}
	p.mu.Lock()
	n.sending = true
	p.pipelines++
	p.mu.Unlock()
	return pc, nil
}

// RestAfter rests after other work done for addr's moves (listing its next
// slots) that took busy, as addr's pace rests after a MIGRATE pipeline:
// Rest times busy, at most MaxPause. Rests shorter than minRest are added
// to *owed and taken together. It returns ctx's error when ctx ends first.
func (p *Pacer) RestAfter(ctx context.Context, addr string, busy time.Duration, owed *time.Duration) error {
	pc, ok := p.Last(addr)
	if !ok {
		return ctx.Err()
	}
	p.rest(ctx, owe(owed, p.opts.Pause(pc, busy), pc.Rest, p.opts.MaxPause))
	return ctx.Err()
}

// rest sleeps d (nothing when d <= 0), or until ctx ends.
func (p *Pacer) rest(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	p.mu.Lock()
	sleepFn := p.sleep
	p.mu.Unlock()
	if sleepFn == nil {
		_ = sleep(ctx, d)
		return
	}
	sleepFn(ctx, d)
}

// Sent records a pipeline addr sent to dst: the keys it moved (for
// Pace.KeysPerSec) and how long it took (for the next pause).
func (p *Pacer) Sent(addr, dst string, keys int64, took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := p.nodes[addr]; n != nil {
		n.moved += keys
		n.busy = took
		n.sending = false
		n.route(dst, p.opts.Now())
	}
}

// Quiet stops every source before its next pipeline, as Paused does,
// until the returned function is called (once; later calls do nothing).
// Quiets nest: the sources send again when the last is released. A hold
// uses it to measure the baseline with nothing of the run's load on the
// nodes (see remeasure).
func (p *Pacer) Quiet() (release func()) {
	p.mu.Lock()
	p.quiet++
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.quiet--
			p.mu.Unlock()
		})
	}
}

// Activity returns how many MIGRATE pipelines the sources have begun and
// whether one is under way: with the count unchanged and none under way,
// nothing this pacer paces has loaded the nodes in between, even while
// batches are in flight (their moves parked at a slot boundary by an
// exhausted pace send nothing). A pipeline that failed before Sent stays
// under way for good, which errs on the side of busy.
func (p *Pacer) Activity() (pipelines uint64, underWay bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.nodes {
		if n.sending {
			return p.pipelines, true
		}
	}
	return p.pipelines, false
}

// Exhausted reports whether addr is at the slowest pace and was still over
// budget at the last decision: the caller should hold at a boundary (as the
// gates do) rather than keep sending.
func (p *Pacer) Exhausted(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nodes[addr]
	return n != nil && n.cur.Exhausted
}

// History returns addr's pace changes, oldest first (at most
// PacerOptions.History of them).
func (p *Pacer) History(addr string) []Pace {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := p.nodes[addr]; n != nil {
		return append([]Pace(nil), n.history...)
	}
	return nil
}

// Snapshot returns every paced source's latest pace, by address.
func (p *Pacer) Snapshot() []Pace {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Pace, 0, len(p.nodes))
	for _, n := range p.nodes {
		out = append(out, n.cur)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// sent tells the pacer about a pipeline addr sent to dst.
func (l *Legacy) sent(addr, dst string, keys int64, took time.Duration) {
	if l.opts.Pacer != nil {
		l.opts.Pacer.Sent(addr, dst, keys, took)
	}
}
