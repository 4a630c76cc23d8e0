package migrate

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slotshift/slotshift/pkg/logkey"
)

// setSlotsRetry sends CLUSTER SETSLOT s <sub> <id> for slots in one
// pipeline and returns each slot's error. A Valkey >= 8 primary forwards
// SETSLOT to its replicas first and answers NOREPLICAS when they have not
// acknowledged it within 2s (a busy machine); it has then not applied the
// command, and sending it again is safe: those slots are sent again, with
// a growing pause, until they pass or ctx ends. The error is a connection
// error only.
func (l *Legacy) setSlotsRetry(ctx context.Context, addr string, slots []int, sub, id string) ([]error, error) {
	errs := make([]error, len(slots))
	todo := make([]int, len(slots))
	for i := range slots {
		todo[i] = i
	}
	pause := 50 * time.Millisecond
	for {
		pipe := l.clients.Client(addr).Pipeline()
		cmds := make([]*redis.Cmd, len(todo))
		for j, i := range todo {
			if sub == "STABLE" {
				cmds[j] = pipe.Do(ctx, "CLUSTER", "SETSLOT", slots[i], "STABLE")
			} else {
				cmds[j] = pipe.Do(ctx, "CLUSTER", "SETSLOT", slots[i], sub, id)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && !isRedisErr(err) {
			return nil, err
		}
		var again []int
		for j, i := range todo {
			errs[i] = cmds[j].Err()
			if errs[i] != nil && strings.HasPrefix(errs[i].Error(), "NOREPLICAS") {
				again = append(again, i)
			}
		}
		if len(again) == 0 || sleep(ctx, pause) != nil {
			return errs, nil
		}
		l.opts.Log.Warn("SETSLOT waited too long for the replicas; sending it again", logkey.Node, addr, "slots", len(again), "sub", sub)
		todo, pause = again, min(2*pause, time.Second)
	}
}
