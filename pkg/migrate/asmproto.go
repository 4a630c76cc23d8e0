package migrate

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
)

// redisASM is Redis 8.4's CLUSTER MIGRATION: IMPORT on the target, one task
// per node at a time, every range of a task from one source. A failed
// import is retried by the target every second; it is final only when
// cancelled.
type redisASM struct{ pool *admin.Pool }

// redisMaxRetries: a task the target has retried this often is cancelled.
const redisMaxRetries = 10

func (redisASM) exclusive() bool { return true }

func (p redisASM) start(ctx context.Context, t Task) (string, error) {
	args := []any{"CLUSTER", "MIGRATION", "IMPORT"}
	for _, r := range t.Ranges {
		args = append(args, r.Start, r.End)
	}
	return p.pool.Client(t.ToAddr).Do(ctx, args...).Text()
}

func (p redisASM) status(ctx context.Context, t Task, id string) (taskStatus, error) {
	v, err := p.pool.Client(t.ToAddr).Do(ctx, "CLUSTER", "MIGRATION", "STATUS", "ID", id).Result()
	if err != nil {
		return taskStatus{}, err
	}
	return parseRedisStatus(v), nil
}

// parseRedisStatus reads CLUSTER MIGRATION STATUS ID's reply: an array of
// at most one map (id, slots, source, dest, operation, state, last_error,
// retries, ...).
func parseRedisStatus(v any) taskStatus {
	rows, _ := v.([]any)
	if len(rows) == 0 {
		return taskStatus{State: "unknown", Done: true, Msg: "the target does not know the task (restarted?)"}
	}
	m := pairs(rows[0])
	st := taskStatus{State: m["state"], Msg: m["last_error"]}
	switch st.State {
	case "completed":
		st.Done, st.OK = true, true
	case "canceled":
		st.Done = true
	case "failed":
		if n, _ := strconv.Atoi(m["retries"]); n >= redisMaxRetries {
			st.Done = true
		}
	}
	return st
}

func (p redisASM) cancel(ctx context.Context, t Task, id string) error {
	return p.pool.Client(t.ToAddr).Do(ctx, "CLUSTER", "MIGRATION", "CANCEL", "ID", id).Err()
}

// valkeyASM is Valkey 9's CLUSTER MIGRATESLOTS on the source. The source
// runs several jobs at once. Each range goes as its own job (SLOTSRANGE a b
// NODE id): many ranges in one job have left the target's replicas stuck.
// The handle is the jobs' names, comma-separated.
type valkeyASM struct{ pool *admin.Pool }

func (valkeyASM) exclusive() bool { return false }

func (p valkeyASM) start(ctx context.Context, t Task) (string, error) {
	c := p.pool.Client(t.FromAddr)
	before, err := p.jobs(ctx, t.FromAddr)
	if err != nil {
		return "", err
	}
	args := []any{"CLUSTER", "MIGRATESLOTS"}
	for _, r := range t.Ranges {
		args = append(args, "SLOTSRANGE", r.Start, r.End, "NODE", t.To)
	}
	if err := c.Do(ctx, args...).Err(); err != nil {
		return "", err
	}
	after, err := p.jobs(ctx, t.FromAddr)
	if err != nil {
		return "", err
	}
	names, err := newJobs(before, after, t)
	if err != nil {
		return "", err
	}
	return strings.Join(names, ","), nil
}

// newJobs finds the export jobs t started: in after, not in before, toward
// t.To, one per range of t.
func newJobs(before, after []map[string]string, t Task) ([]string, error) {
	old := map[string]bool{}
	for _, j := range before {
		old[j["name"]] = true
	}
	var names []string
	for _, r := range t.Ranges {
		want := fmt.Sprintf("%d-%d", r.Start, r.End)
		found := ""
		for _, j := range after {
			if !old[j["name"]] && strings.EqualFold(j["operation"], "export") && j["target_node"] == t.To && j["slot_ranges"] == want {
				found = j["name"]
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("MIGRATESLOTS answered OK but %s lists no new job for %s to %s", t.FromAddr, want, t.To)
		}
		names = append(names, found)
	}
	return names, nil
}

// jobs reads CLUSTER GETSLOTMIGRATIONS on addr.
func (p valkeyASM) jobs(ctx context.Context, addr string) ([]map[string]string, error) {
	v, err := p.pool.Client(addr).Do(ctx, "CLUSTER", "GETSLOTMIGRATIONS").Result()
	if err != nil {
		return nil, err
	}
	return parseValkeyJobs(v), nil
}

// parseValkeyJobs reads CLUSTER GETSLOTMIGRATIONS' reply: an array of maps
// (name, operation, slot_ranges, target_node, source_node, create_time,
// last_update_time, last_ack_time, state, message, ...).
func parseValkeyJobs(v any) []map[string]string {
	rows, _ := v.([]any)
	out := make([]map[string]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, pairs(r))
	}
	return out
}

func (p valkeyASM) status(ctx context.Context, t Task, handle string) (taskStatus, error) {
	jobs, err := p.jobs(ctx, t.FromAddr)
	if err != nil {
		return taskStatus{}, err
	}
	return valkeyStatus(jobs, strings.Split(handle, ",")), nil
}

// valkeyStatus sums up the jobs named: done when every one is, OK when
// every one succeeded.
func valkeyStatus(jobs []map[string]string, names []string) taskStatus {
	st := taskStatus{Done: true, OK: true, State: "success"}
	for _, name := range names {
		i := slices.IndexFunc(jobs, func(j map[string]string) bool { return j["name"] == name })
		if i < 0 {
			return taskStatus{State: "unknown", Done: true, Msg: "job " + name + " is no longer listed"}
		}
		j := jobs[i]
		switch j["state"] {
		case "success":
		case "failed", "cancelled":
			st.OK, st.State = false, j["state"]
			if st.Msg == "" {
				st.Msg = j["message"]
			}
		default:
			if st.Done {
				st.Done, st.OK, st.State = false, false, j["state"]
			}
		}
	}
	if !st.Done {
		st.OK = false
	}
	return st
}

func (p valkeyASM) cancel(ctx context.Context, t Task, _ string) error {
	err := p.pool.Client(t.FromAddr).Do(ctx, "CLUSTER", "CANCELSLOTMIGRATIONS").Err()
	if err != nil && strings.Contains(err.Error(), "No migrations ongoing") {
		return nil
	}
	return err
}
