package migrate

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/plan"
)

// commandInfo builds one COMMAND INFO entry as go-redis decodes it (RESP2):
// name, arity, flags, first key, last key, step, ACL categories, tips,
// key specs, subcommands.
func commandInfo(name string, arity int64, flags ...any) []any {
	return []any{name, arity, flags, int64(0), int64(0), int64(0), []any{"@admin", "@slow", "@dangerous"}, []any{}, []any{}, []any{}}
}

// Replies to COMMAND INFO cluster|migration cluster|migrateslots
// cluster|getslotmigrations cluster|cancelslotmigrations cluster|slot-stats,
// recorded from each server (Redis 7.0.15, Redis 8.4.0, Valkey 9.1.0).
var (
	replyRedis70  = []any{nil, nil, nil, nil, nil}
	replyRedis84  = []any{commandInfo("cluster|migration", -4, "admin", "stale", "no_async_loading"), nil, nil, nil, commandInfo("cluster|slot-stats", -4, "loading", "stale")}
	replyValkey91 = []any{nil, commandInfo("cluster|migrateslots", -4, "admin", "stale", "no_async_loading"),
		commandInfo("cluster|getslotmigrations", 2, "admin", "stale", "no_async_loading"),
		commandInfo("cluster|cancelslotmigrations", 2, "admin", "stale", "no_async_loading"),
		commandInfo("cluster|slot-stats", -4, "loading", "stale")}
)

func TestParseCapabilities(t *testing.T) {
	cases := []struct {
		name  string
		reply []any
		want  Capabilities
	}{
		{"redis 7.0", replyRedis70, Capabilities{}},
		{"redis 8.4", replyRedis84, Capabilities{RedisASM: true, SlotStats: true}},
		{"valkey 9.1", replyValkey91, Capabilities{ValkeyASM: true, SlotStats: true}},
		{"valkey without cancel", []any{nil, replyValkey91[1], replyValkey91[2], nil, nil}, Capabilities{}},
		{"empty", nil, Capabilities{}},
	}
	for _, tc := range cases {
		if got := ParseCapabilities(tc.reply); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestChooseProtocol(t *testing.T) {
	redis84 := ParseCapabilities(replyRedis84)
	valkey := ParseCapabilities(replyValkey91)
	none := ParseCapabilities(replyRedis70)
	cases := []struct {
		want   string
		common Capabilities
		proto  Protocol
		err    string
	}{
		{"auto", none, ProtocolLegacy, ""},
		{"", redis84, ProtocolRedisASM, ""},
		{"auto", valkey, ProtocolValkeyASM, ""},
		{"legacy", valkey, ProtocolLegacy, ""},
		{"atomic", Common([]Capabilities{valkey, none}), "", "not supported by 127.0.0.1:7002"},
		{"atomic", Common([]Capabilities{redis84, redis84}), ProtocolRedisASM, ""},
		{"sideways", valkey, "", "want legacy, atomic or auto"},
	}
	for _, tc := range cases {
		ch, err := ChooseProtocol(tc.want, tc.common, []string{"127.0.0.1:7002"})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q on %+v: err %v, want %q", tc.want, tc.common, err, tc.err)
			}
			continue
		}
		if err != nil || ch.Protocol != tc.proto {
			t.Errorf("%q on %+v: %v %v, want %s", tc.want, tc.common, ch, err, tc.proto)
		}
	}
}

func TestTasksGroupsPairsIntoContiguousRanges(t *testing.T) {
	mv := func(from, to string, a, b int) plan.Move {
		return plan.Move{From: from, To: to, FromAddr: from + ":1", ToAddr: to + ":1", Range: cluster.Range{Start: a, End: b}}
	}
	moves := []plan.Move{
		mv("a", "x", 100, 199), mv("b", "x", 5000, 5099), mv("a", "y", 300, 399),
		mv("a", "x", 200, 299), mv("a", "x", 0, 49), mv("b", "x", 5100, 5199),
	}
	owned := map[int]bool{5150: true}
	tasks, skipped := Tasks(moves, func(s int, m plan.Move) bool { return owned[s] && m.To == "x" })
	want := []Task{
		{From: "a", To: "x", FromAddr: "a:1", ToAddr: "x:1", Ranges: []cluster.Range{{Start: 0, End: 49}, {Start: 100, End: 299}}},
		{From: "b", To: "x", FromAddr: "b:1", ToAddr: "x:1", Ranges: []cluster.Range{{Start: 5000, End: 5149}, {Start: 5151, End: 5199}}},
		{From: "a", To: "y", FromAddr: "a:1", ToAddr: "y:1", Ranges: []cluster.Range{{Start: 300, End: 399}}},
	}
	if !reflect.DeepEqual(tasks, want) || skipped != 1 {
		t.Errorf("tasks %+v (skipped %d), want %+v (skipped 1)", tasks, skipped, want)
	}
	if n := tasks[0].Slots(); n != 250 {
		t.Errorf("slots %d, want 250", n)
	}
	all, _ := Tasks(moves, func(int, plan.Move) bool { return true })
	if len(all) != 0 {
		t.Errorf("all slots skipped: %d tasks, want 0", len(all))
	}
}

// redisStatusReply is CLUSTER MIGRATION STATUS ID's reply in RESP2.
func redisStatusReply(state string, retries int64, lastErr string) []any {
	return []any{[]any{"id", "f3c9", "slots", "0-99", "source", strings.Repeat("a", 40), "dest", strings.Repeat("b", 40),
		"operation", "import", "state", state, "last_error", lastErr, "retries", retries,
		"create_time", int64(1), "start_time", int64(2), "end_time", int64(3), "write_pause_ms", int64(0)}}
}

func TestParseRedisStatus(t *testing.T) {
	cases := []struct {
		reply    any
		done, ok bool
	}{
		{redisStatusReply("completed", 0, ""), true, true},
		{redisStatusReply("send-bulk-and-stream", 0, ""), false, false},
		{redisStatusReply("wait-bgsave-start", 0, ""), false, false},
		{redisStatusReply("failed", 1, "Main channel - Connection timeout"), false, false}, // the target retries
		{redisStatusReply("failed", redisMaxRetries, "Main channel - Connection timeout"), true, false},
		{redisStatusReply("canceled", 0, "user request"), true, false},
		{[]any{}, true, false},
	}
	for _, tc := range cases {
		st := parseRedisStatus(tc.reply)
		if st.Done != tc.done || st.OK != tc.ok {
			t.Errorf("%v: done %v ok %v, want %v %v", tc.reply, st.Done, st.OK, tc.done, tc.ok)
		}
	}
}

// valkeyJob is one CLUSTER GETSLOTMIGRATIONS entry in RESP2.
func valkeyJob(name, op, ranges, target, state, msg string) []any {
	return []any{"name", name, "operation", op, "slot_ranges", ranges, "target_node", target, "source_node", "src",
		"create_time", int64(1), "last_update_time", int64(2), "last_ack_time", int64(3), "state", state, "message", msg,
		"cow_size", int64(0), "remaining_repl_size", int64(0)}
}

func TestValkeyJobs(t *testing.T) {
	before := parseValkeyJobs([]any{valkeyJob("old1", "EXPORT", "0-99", "x", "success", "")})
	after := parseValkeyJobs([]any{
		valkeyJob("new2", "EXPORT", "200-299", "x", "snapshotting", ""),
		valkeyJob("new1", "EXPORT", "0-99", "x", "connecting", ""),
		valkeyJob("new3", "EXPORT", "0-99", "y", "connecting", ""),
		valkeyJob("old1", "EXPORT", "0-99", "x", "success", ""),
	})
	task := Task{To: "x", FromAddr: "src:1", Ranges: []cluster.Range{{Start: 0, End: 99}, {Start: 200, End: 299}}}
	names, err := newJobs(before, after, task)
	if err != nil || !reflect.DeepEqual(names, []string{"new1", "new2"}) {
		t.Fatalf("new jobs %v (%v), want [new1 new2]", names, err)
	}
	if _, err := newJobs(after, after, task); err == nil {
		t.Error("no new job: want an error")
	}
	cases := []struct {
		states   [2]string
		done, ok bool
	}{
		{[2]string{"success", "success"}, true, true},
		{[2]string{"success", "replicating"}, false, false},
		{[2]string{"failed", "replicating"}, false, false},
		{[2]string{"failed", "success"}, true, false},
		{[2]string{"cancelled", "cancelled"}, true, false},
	}
	for _, tc := range cases {
		jobs := parseValkeyJobs([]any{valkeyJob("new1", "EXPORT", "0-99", "x", tc.states[0], "boom"), valkeyJob("new2", "EXPORT", "200-299", "x", tc.states[1], "")})
		st := valkeyStatus(jobs, names)
		if st.Done != tc.done || st.OK != tc.ok {
			t.Errorf("%v: done %v ok %v, want %v %v", tc.states, st.Done, st.OK, tc.done, tc.ok)
		}
	}
	if st := valkeyStatus(nil, names); !st.Done || st.OK {
		t.Errorf("jobs gone: %+v, want done and not ok", st)
	}
}

func TestSlotStatsKeyCounts(t *testing.T) {
	// CLUSTER SLOT-STATS SLOTSRANGE 0 1, recorded from Redis 8.4 (Valkey 8+
	// answers the same shape with more fields per slot).
	reply := []any{
		[]any{int64(0), []any{"key-count", int64(12)}},
		[]any{int64(1), []any{"key-count", int64(0), "cpu-usec", int64(5), "network-bytes-in", int64(0)}},
	}
	if got := SlotStatsKeyCounts(reply); !reflect.DeepEqual(got, map[int]int64{0: 12, 1: 0}) {
		t.Errorf("key counts %v", got)
	}
}

func TestParseReplicaLines(t *testing.T) {
	info := "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n" +
		"slave0:ip=127.0.0.1,port=7003,state=online,offset=1200,lag=0\r\n" +
		"slave1:ip=127.0.0.1,port=7004,state=wait_bgsave,offset=0,lag=1\r\n" +
		"master_failover_state:no-failover\r\nmaster_repl_offset:1234\r\n"
	reps, off := parseReplicaLines(info)
	want := []replicaLine{{"127.0.0.1:7003", "online", 1200}, {"127.0.0.1:7004", "wait_bgsave", 0}}
	if off != 1234 || !reflect.DeepEqual(reps, want) {
		t.Errorf("replicas %+v offset %d", reps, off)
	}
}

func TestProgressETAByKeys(t *testing.T) {
	p := &progress{start: time.Now().Add(-10 * time.Second), slotsTotal: 1000}
	p.record(Stats{Slots: 500, Keys: 100})
	if eta := p.snapshot().ETA; eta < 9*time.Second || eta > 11*time.Second {
		t.Errorf("by slots: ETA %s, want about 10s", eta)
	}
	p.keysTotal = 400 // a quarter of the keys moved: three times as long to go
	if eta := p.snapshot().ETA; eta < 29*time.Second || eta > 31*time.Second {
		t.Errorf("by keys: ETA %s, want about 30s", eta)
	}
}
