package stage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/load"
	"github.com/slotshift/slotshift/pkg/logkey"
	"github.com/slotshift/slotshift/pkg/measure"
	"github.com/slotshift/slotshift/pkg/report"
)

// IDFailoverShard is failover-test's verdict on one shard.
const IDFailoverShard = check.IDFailoverShard

// failover-test defaults and limits.
const (
	DefaultFailoverTimeout = 30 * time.Second
	DefaultFailoverRate    = 500
	DefaultFailoverClients = 4
	DefaultFailoverSettle  = 500 * time.Millisecond
	// MaxFailoverRate bounds the load: every write of a shard's run is
	// kept (32 bytes each) to measure the outage.
	MaxFailoverRate = 10000
	// FailoverPrefix starts the load's keys: <prefix>{tag}:N.
	FailoverPrefix = "slotshift:failover:"
	failoverKeys   = 1000
	failoverPoll   = 10 * time.Millisecond
	// mfTimeout is Redis' manual failover timeout (CLUSTER_MF_TIMEOUT)
	// plus a margin: a CLUSTER FAILOVER not done by then never will be.
	mfTimeout = 6 * time.Second
)

// FailoverInput configures failover-test.
type FailoverInput struct {
	// Shards name the shards to test by their master: node id, address
	// (host:port) or inventory name (server:port). Empty = every shard.
	Shards []string
	// Rate is the load's writes per second on each shard. Default 500.
	Rate int
	// Clients is the load's concurrent clients. Default 4.
	Clients int
	// Timeout bounds each wait: a replica catching up, a role switch
	// that every node agrees on, the restore after an interrupt.
	// Default 30s.
	Timeout time.Duration
	// Settle is how long the load runs before the failover and after
	// each role switch. Default 500ms.
	Settle time.Duration

	// afterPromotion, when set, runs once the replica has taken over
	// (tests interrupt the run here).
	afterPromotion func()
}

func (in *FailoverInput) defaults() error {
	if in.Rate == 0 {
		in.Rate = DefaultFailoverRate
	}
	if in.Clients == 0 {
		in.Clients = DefaultFailoverClients
	}
	if in.Timeout == 0 {
		in.Timeout = DefaultFailoverTimeout
	}
	if in.Settle == 0 {
		in.Settle = DefaultFailoverSettle
	}
	switch {
	case in.Rate < 1 || in.Rate > MaxFailoverRate:
		return Usagef("failover-test: --rate %d: want 1..%d", in.Rate, MaxFailoverRate)
	case in.Clients < 1 || in.Clients > failoverKeys:
		return Usagef("failover-test: --clients %d: want 1..%d", in.Clients, failoverKeys)
	case in.Timeout < 0 || in.Settle < 0:
		return Usagef("failover-test: --timeout and --settle must not be negative")
	}
	return nil
}

// failoverRun is one failover-test run.
type failoverRun struct {
	env     Env
	in      FailoverInput
	obs     *observer
	members []string // reachable members: the nodes that must agree on a switch
	limit   time.Duration
}

// FailoverTest fails each shard (a master that owns slots, and its
// replicas) over to a healthy replica with CLUSTER FAILOVER, the
// coordinated mode, and back, one shard at a time, while a load generator
// writes keys in that shard's slots. It measures the write outage as the
// client saw it (the longest time without an acknowledged write around
// each switch), the promotion and failback times (command sent until the
// node reports master and every node agrees), and reads every
// acknowledged write back. A shard fails on lost or stale writes, on roles
// not restored, or on an outage over failover.max_write_outage.
//
// Before anything is changed every selected shard must have a healthy
// replica; when one has not, that shard fails with the reason and no shard
// is run. When ctx ends during a shard, the roles are restored (on a fresh
// context bounded by the timeout) before FailoverTest returns ctx's cause.
func FailoverTest(ctx context.Context, env Env, in FailoverInput) (Result, error) {
	if env.Inventory == nil {
		return Result{}, Usagef("failover-test: no inventory")
	}
	if err := in.defaults(); err != nil {
		return Result{}, err
	}
	obs := newObserverTimeout(env, 5*time.Second)
	defer obs.close()
	var res Result
	l, ok, err := obs.live(ctx, &res, "failover-test", IDFailoverShard)
	if !ok {
		return res, err
	}
	shards, err := check.SelectShards(env.Inventory, check.Shards(l), in.Shards)
	if err != nil {
		return res, &UsageError{Err: err, Hint: "name a master by node id, host:port or server:port (slotshift verify lists them)"}
	}
	run := &failoverRun{env: env, in: in, obs: obs, limit: env.Inventory.Failover.MaxWriteOutage.Duration}
	for _, a := range l.MemberAddrs() {
		if o := l.Snap.Nodes[a]; o != nil && o.OK() {
			run.members = append(run.members, a)
		}
	}
	res.Failover = &report.FailoverSection{MaxWriteOutageMS: msOf(run.limit)}
	if !run.preflight(ctx, &res, shards) {
		if ctx.Err() != nil {
			return res, fmt.Errorf("failover-test interrupted before any change: %w", context.Cause(ctx))
		}
		return res, nil
	}
	for i, s := range shards {
		fs := run.shard(ctx, s)
		run.record(&res, fs)
		if ctx.Err() != nil {
			for _, rest := range shards[i+1:] {
				res.Add(check.New(IDFailoverShard, report.Skip, rest.Master.Addr, "%s: not run: interrupted", check.ShardLabel(env.Inventory, rest)))
			}
			run.outputs(&res)
			roles := "roles restored"
			if !fs.RolesRestored {
				roles = "roles NOT restored: " + fs.Problem
			}
			return res, fmt.Errorf("failover-test interrupted during %s (%s): %w", check.ShardLabel(env.Inventory, s), roles, context.Cause(ctx))
		}
	}
	run.outputs(&res)
	return res, nil
}

// preflight refuses the whole run, changing nothing, when any selected
// shard has no healthy replica; it reports whether the run may go on.
func (r *failoverRun) preflight(ctx context.Context, res *Result, shards []check.Shard) bool {
	refused := map[string]bool{}
	for _, s := range shards {
		if _, why := r.healthyReplica(ctx, s, time.Second); why != "" {
			fs := report.FailoverShard{Master: s.Master.Addr, MasterID: s.Master.ID, Slots: s.Master.Slots.Len(), Refused: why}
			r.record(res, fs)
			refused[s.Master.ID] = true
		}
	}
	if len(refused) == 0 {
		return true
	}
	for _, s := range shards {
		if !refused[s.Master.ID] {
			res.Add(check.New(IDFailoverShard, report.Skip, s.Master.Addr, "%s: not run: another shard has no healthy replica, so nothing was changed", check.ShardLabel(r.env.Inventory, s)))
		}
	}
	r.outputs(res)
	return false
}

// record grades a shard and adds it to the result.
func (r *failoverRun) record(res *Result, fs report.FailoverShard) {
	c := check.CheckFailoverShard(r.env.Inventory, fs, r.limit)
	fs.Status = c.Status
	res.Failover.Shards = append(res.Failover.Shards, fs)
	res.Add(c)
	res.Summary = append(res.Summary, c.Message)
	r.obs.log.Info("failover-test shard", logkey.Node, fs.Master, logkey.Outcome, string(c.Status), logkey.Duration, fs.Duration)
}

func (r *failoverRun) outputs(res *Result) {
	var worst float64
	lost, failed := 0, 0
	for _, fs := range res.Failover.Shards {
		worst = max(worst, fs.WriteOutageMS, fs.FailbackOutageMS)
		lost += fs.WritesLost
		if fs.Status != report.Pass {
			failed++
		}
	}
	res.Outputs = map[string]string{
		"shards":              fmt.Sprint(len(res.Failover.Shards)),
		"shards-failed":       fmt.Sprint(failed),
		"max-write-outage-ms": fmt.Sprintf("%.0f", worst),
		"lost":                fmt.Sprint(lost),
	}
}

// healthyReplica returns a replica of s that can take over now, reading
// the master's view of its replicas and each one's INFO replication; it
// retries for up to wait (a replica catching up), then says why none can.
func (r *failoverRun) healthyReplica(ctx context.Context, s check.Shard, wait time.Duration) (cluster.Node, string) {
	deadline := time.Now().Add(wait)
	for {
		replica, why := r.pickReplica(ctx, s)
		if why == "" || time.Now().After(deadline) || sleepCtx(ctx, 50*time.Millisecond) != nil {
			return replica, why
		}
	}
}

func (r *failoverRun) pickReplica(ctx context.Context, s check.Shard) (cluster.Node, string) {
	pool := r.obs.pool
	mrep, err := pool.ReplicationInfo(ctx, s.Master.Addr)
	if err != nil {
		return cluster.Node{}, fmt.Sprintf("master unreadable: %v", err)
	}
	view, err := pool.ClusterNodes(ctx, s.Master.Addr)
	if err != nil {
		return cluster.Node{}, fmt.Sprintf("master unreadable: %v", err)
	}
	var reasons []string
	for _, n := range view {
		if n.MasterID != s.Master.ID {
			continue
		}
		var st check.ReplicaState
		if rep, err := pool.ReplicationInfo(ctx, n.Addr); err != nil {
			st.Err = err.Error()
			if admin.IsUnreachable(err) {
				st.Err = "unreachable"
			}
		} else {
			st = check.ReplicaState{Role: rep.Role, LinkStatus: rep.MasterLinkStatus, Offset: rep.MasterReplOffset}
		}
		why := check.ReplicaProblem(n, st, mrep.MasterReplOffset)
		if why == "" {
			return n, ""
		}
		reasons = append(reasons, why)
	}
	if len(reasons) == 0 {
		return cluster.Node{}, "the master has no replica"
	}
	return cluster.Node{}, strings.Join(reasons, "; ")
}

// writeLog keeps every write of a shard's load run.
type writeLog struct {
	mu     sync.Mutex
	writes []measure.Write
	acked  int
}

func (w *writeLog) add(x load.Write) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, measure.Write{Start: x.Start, End: x.End, Acked: x.Acked})
	if x.Acked {
		w.acked++
	}
}

// all returns the writes so far.
func (w *writeLog) all() []measure.Write {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes
}

func (w *writeLog) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked
}

// loadFor builds the load generator for a shard: writes only, on keys
// whose hash tag falls in the shard's slots.
func (r *failoverRun) loadFor(s check.Shard, tag string) (*load.Generator, *writeLog, error) {
	var seeds []string
	for _, n := range r.env.Inventory.Nodes() {
		seeds = append(seeds, n.Addr())
	}
	g, err := load.New(load.Options{
		Seeds: seeds, Username: r.env.Secrets.Username, Password: r.env.Secrets.Password, TLS: r.env.Secrets.TLS,
		// Stopped by the run; the bound only guards against a lost Stop.
		Duration: 4*r.in.Timeout + 2*mfTimeout + 4*r.in.Settle,
		Rate:     r.in.Rate, Clients: r.in.Clients, Keys: failoverKeys,
		Prefix: FailoverPrefix + "{" + tag + "}:",
	})
	if err != nil {
		return nil, nil, err
	}
	w := &writeLog{}
	g.OnWrite(w.add)
	return g, w, nil
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// sleepCtx sleeps for d or until ctx ends (then it returns ctx's error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errNoAck = errors.New("no write was acknowledged before the failover")

// shard runs one shard: load, failover, settle, failback, settle, then
// the read-back. It always tries to leave the original master in charge.
func (r *failoverRun) shard(ctx context.Context, s check.Shard) (fs report.FailoverShard) {
	start := time.Now()
	fs = report.FailoverShard{Master: s.Master.Addr, MasterID: s.Master.ID, Slots: s.Master.Slots.Len(), RolesRestored: true}
	defer func() { fs.Duration = report.SecondsOf(time.Since(start)) }()
	replica, why := r.healthyReplica(ctx, s, r.in.Timeout)
	if why != "" {
		fs.Refused = why
		return fs
	}
	fs.Replica, fs.ReplicaID = replica.Addr, replica.ID
	fs.KeyTag, _ = cluster.HashTag(&s.Master.Slots)
	g, log, err := r.loadFor(s, fs.KeyTag)
	if err != nil {
		fs.Problem = err.Error()
		return fs
	}
	label := check.ShardLabel(r.env.Inventory, s)
	r.obs.statusf("failover-test: %s: load on {%s}, failing over to %s", label, fs.KeyTag, replica.Addr)
	g.Start(ctx)
	sent, back, err := r.switchAndBack(ctx, &fs, s.Master, replica, log)
	if err != nil {
		fs.Problem = err.Error()
	}
	_ = sleepCtx(ctx, r.in.Settle) // acknowledgements after the failback close its gap
	lr, lerr := g.Stop()
	end := time.Now()
	if lerr != nil && !errors.Is(lerr, load.ErrCleanup) {
		fs.Problem = joinProblem(fs.Problem, lerr.Error())
	}
	if writes := log.all(); !sent.IsZero() && !back.IsZero() {
		fs.WriteOutageMS = msOf(measure.WriteOutage(writes, sent, back).Longest)
		fs.FailbackOutageMS = msOf(measure.WriteOutage(writes, back, end).Longest)
	}
	fs.WritesAcked, fs.WritesFailed = lr.WritesAcked, lr.WritesUnknown
	fs.WritesLost, fs.WritesStale = lr.Verify.Lost, lr.Verify.Stale+lr.Verify.Foreign
	if n := lr.Verify.Unverified; n > 0 {
		fs.Problem = joinProblem(fs.Problem, fmt.Sprintf("%d acknowledged keys could not be read back", n))
	}
	return fs
}

// switchAndBack waits for the load to be acknowledged, fails over to
// replica and back, and returns when each CLUSTER FAILOVER was sent (zero
// when it was not). Whatever happens once the first was sent, it restores
// the roles before it returns, on a fresh context when ctx has ended.
func (r *failoverRun) switchAndBack(ctx context.Context, fs *report.FailoverShard, master, replica cluster.Node, log *writeLog) (sent, back time.Time, err error) {
	if err := sleepCtx(ctx, r.in.Settle); err != nil {
		return sent, back, err
	}
	warm := time.Now().Add(r.in.Timeout)
	for log.ackedCount() == 0 {
		if err := sleepCtx(ctx, failoverPoll); err != nil {
			return sent, back, err
		}
		if time.Now().After(warm) {
			return sent, back, errNoAck
		}
	}
	sent = time.Now()
	if err := r.obs.pool.Failover(ctx, replica.Addr); err != nil {
		return time.Time{}, back, err
	}
	promoted, err := r.waitSwitch(ctx, sent, replica, master, true)
	if err == nil {
		fs.PromotionMS = msOf(promoted)
		r.obs.statusf("failover-test: %s took over from %s in %.0f ms", replica.Addr, master.Addr, fs.PromotionMS)
		r.obs.log.Info("failover-test replica promoted", logkey.Node, replica.Addr, logkey.Duration, promoted)
		if r.in.afterPromotion != nil {
			r.in.afterPromotion()
		}
		_ = sleepCtx(ctx, r.in.Settle)
	}
	back = time.Now()
	took, rerr := r.restore(ctx, master, replica, err == nil)
	fs.RolesRestored = rerr == nil
	fs.FailbackMS = msOf(took)
	switch {
	case rerr != nil:
		err = joinErr(err, fmt.Errorf("restoring %s as master: %w", master.Addr, rerr))
	case ctx.Err() != nil:
		r.obs.log.Warn("failover-test interrupted: roles restored, the original master leads again", logkey.Node, master.Addr)
		err = joinErr(err, errors.New("interrupted; roles restored"))
	}
	return sent, back, err
}

// restore makes master the master of its shard again. When ctx has ended
// (a signal) it goes on on a fresh context bounded by the timeout: leaving
// the replica in charge is not what the operator asked for. promoted says
// the switch to replica was seen; when it was not, a CLUSTER FAILOVER may
// still be under way, so restore waits for it to finish or time out first.
func (r *failoverRun) restore(ctx context.Context, master, replica cluster.Node, promoted bool) (time.Duration, error) {
	if ctx.Err() == nil {
		if !promoted {
			wctx, cancel := context.WithTimeout(ctx, mfTimeout)
			_, _ = r.waitSwitch(wctx, time.Now(), replica, master, false)
			cancel()
		}
		d, err := r.failBack(ctx, master, replica)
		if err == nil || ctx.Err() == nil {
			return d, err
		}
	}
	fresh, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.in.Timeout)
	defer cancel()
	r.obs.log.Warn("failover-test interrupted: restoring the original master before exiting", logkey.Node, master.Addr)
	if !promoted {
		wctx, wcancel := context.WithTimeout(fresh, mfTimeout)
		_, _ = r.waitSwitch(wctx, time.Now(), replica, master, false)
		wcancel()
	}
	return r.failBack(fresh, master, replica)
}

// failBack waits until master follows replica with its link up and every
// node agrees (a master ignores a failover request from a node it does not
// yet know as its replica), then sends CLUSTER FAILOVER to master and
// waits for the switch. It returns at once when master already leads.
func (r *failoverRun) failBack(ctx context.Context, master, replica cluster.Node) (time.Duration, error) {
	deadline := time.Now().Add(r.in.Timeout)
	for {
		rep, err := r.obs.pool.ReplicationInfo(ctx, master.Addr)
		var why string
		switch {
		case err != nil:
			why = err.Error()
		case rep.Role == "master":
			if ok, _ := r.switched(ctx, master.ID, replica.ID); ok {
				return 0, nil // never switched, or already back
			}
			why = "master again, but not every node agrees yet"
		case !rep.LinkUp():
			why = "master_link_status:" + rep.MasterLinkStatus
		default:
			ok, w := r.switched(ctx, replica.ID, master.ID)
			if ok {
				sent := time.Now()
				if err := r.obs.pool.Failover(ctx, master.Addr); err != nil {
					return 0, err
				}
				return r.waitSwitch(ctx, sent, master, replica, true)
			}
			why = w
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s not ready to take over again within %s: %s", master.Addr, r.in.Timeout, why)
		}
		if err := sleepCtx(ctx, failoverPoll); err != nil {
			return 0, err
		}
	}
}

// waitSwitch waits until newMaster reports role master and every member
// agrees it leads newReplica; it returns the time since sent. With resend,
// a CLUSTER FAILOVER that Redis gave up on (a replica still a replica after
// mfTimeout: on a busy host the master may not pause its clients in time)
// is sent again, as an operator would, until the timeout.
func (r *failoverRun) waitSwitch(ctx context.Context, sent time.Time, newMaster, newReplica cluster.Node, resend bool) (time.Duration, error) {
	deadline := sent.Add(r.in.Timeout)
	last := sent
	for {
		rep, err := r.obs.pool.ReplicationInfo(ctx, newMaster.Addr)
		why := fmt.Sprintf("%s reports role %s", newMaster.Addr, rep.Role)
		if err != nil {
			why = err.Error()
		} else if rep.Role != "master" && resend && time.Since(last) > mfTimeout {
			last = time.Now()
			r.obs.log.Warn("failover-test: CLUSTER FAILOVER did not complete; sending it again", logkey.Node, newMaster.Addr)
			if err := r.obs.pool.Failover(ctx, newMaster.Addr); err != nil {
				why = err.Error()
			}
		} else if rep.Role == "master" {
			ok, w := r.switched(ctx, newMaster.ID, newReplica.ID)
			if ok {
				return time.Since(sent), nil
			}
			why = w
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s did not take over from %s within %s: %s", newMaster.Addr, newReplica.Addr, r.in.Timeout, why)
		}
		if err := sleepCtx(ctx, failoverPoll); err != nil {
			return 0, err
		}
	}
}

// switched reads CLUSTER NODES on every member and reports whether all
// that answer (at least the two nodes themselves) see masterID leading
// replicaID.
func (r *failoverRun) switched(ctx context.Context, masterID, replicaID string) (bool, string) {
	type view struct {
		nodes []cluster.Node
		err   error
	}
	got := perNode(ctx, r.members, func(ctx context.Context, addr string) view {
		n, err := r.obs.pool.ClusterNodes(ctx, addr)
		return view{n, err}
	})
	views := map[string][]cluster.Node{}
	for addr, v := range got {
		if v.err != nil {
			continue // a member down elsewhere cannot hold the shard back
		}
		views[addr] = v.nodes
	}
	for _, id := range []string{masterID, replicaID} {
		if !viewedBy(views, id) {
			return false, "node " + id + " does not answer"
		}
	}
	return check.Switched(views, masterID, replicaID)
}

// viewedBy reports whether the node with id answered (its own view, the
// one with "myself" on its line, is among views).
func viewedBy(views map[string][]cluster.Node, id string) bool {
	for _, v := range views {
		if self, ok := cluster.Myself(v); ok && self.ID == id {
			return true
		}
	}
	return false
}

func joinProblem(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func joinErr(a, b error) error {
	if a == nil {
		return b
	}
	return fmt.Errorf("%w; %w", a, b)
}
