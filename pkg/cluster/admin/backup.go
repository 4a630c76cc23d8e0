package admin

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// SaveState is a node's RDB persistence as INFO persistence reports it.
type SaveState struct {
	// InProgress: an RDB child is running (a BGSAVE, or a full sync for a
	// replica).
	InProgress bool
	// LastSave is the time of the last successful save (LASTSAVE).
	LastSave time.Time
	// LastStatus is rdb_last_bgsave_status: "ok" or "err".
	LastStatus string
	// Saves counts successful saves since the node started (rdb_saves,
	// Redis 7.0 and later); -1 when the node does not report it.
	Saves int64
	// RedisVersion is the server's redis_version.
	RedisVersion string
}

// Persistence reads the node's save state (INFO persistence and server).
func (p *Pool) Persistence(ctx context.Context, addr string) (SaveState, error) {
	text, err := p.Client(addr).Info(ctx, "persistence", "server").Result()
	if err != nil {
		return SaveState{}, wrap(addr, "INFO persistence", err)
	}
	return parseSaveState(text)
}

func parseSaveState(text string) (SaveState, error) {
	info := cluster.ParseInfo(text)
	st := SaveState{
		InProgress:   info["rdb_bgsave_in_progress"] == "1",
		LastStatus:   info["rdb_last_bgsave_status"],
		Saves:        -1,
		RedisVersion: info["redis_version"],
	}
	secs, err := strconv.ParseInt(info["rdb_last_save_time"], 10, 64)
	if err != nil {
		return st, fmt.Errorf("INFO persistence: rdb_last_save_time %q: %w", info["rdb_last_save_time"], err)
	}
	st.LastSave = time.Unix(secs, 0).UTC()
	if v, ok := info["rdb_saves"]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			st.Saves = n
		}
	}
	return st, nil
}

// LastSave returns the time of the node's last successful save (LASTSAVE).
func (p *Pool) LastSave(ctx context.Context, addr string) (time.Time, error) {
	secs, err := p.Client(addr).LastSave(ctx).Result()
	if err != nil {
		return time.Time{}, wrap(addr, "LASTSAVE", err)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// BGSave asks the node for a background save with BGSAVE SCHEDULE, so that
// a running AOF rewrite delays the save instead of refusing it. See
// IsSaveInProgress for the reply when an RDB child is already running.
func (p *Pool) BGSave(ctx context.Context, addr string) error {
	return wrap(addr, "BGSAVE SCHEDULE", p.Client(addr).Do(ctx, "BGSAVE", "SCHEDULE").Err())
}

// IsSaveInProgress reports whether err is BGSAVE's "Background save
// already in progress": an RDB child (a save, or a full sync to a replica)
// is running, and a new save can only start after it.
func IsSaveInProgress(err error) bool {
	t, ok := replyText(err)
	return ok && strings.Contains(t, "Background save already in progress")
}

// RDBPath returns the node's RDB file: CONFIG GET dir joined with CONFIG
// GET dbfilename, as a path on the node's machine.
func (p *Pool) RDBPath(ctx context.Context, addr string) (string, error) {
	c := p.Client(addr)
	dir, err := c.ConfigGet(ctx, "dir").Result()
	if err != nil {
		return "", wrap(addr, "CONFIG GET dir", err)
	}
	file, err := c.ConfigGet(ctx, "dbfilename").Result()
	if err != nil {
		return "", wrap(addr, "CONFIG GET dbfilename", err)
	}
	if dir["dir"] == "" || file["dbfilename"] == "" {
		return "", wrap(addr, "CONFIG GET dir dbfilename", errors.New("empty reply (CONFIG renamed or disabled?)"))
	}
	return path.Join(dir["dir"], file["dbfilename"]), nil
}

// ErrSaveFailed means the node's background save ended with
// rdb_last_bgsave_status:err (see its log: disk full, permissions…).
var ErrSaveFailed = errors.New("background save failed")

// Save takes a fresh RDB snapshot on the node and waits for it, polling
// every poll (default 200ms) until ctx ends. A save counts when no RDB
// child runs any more and the node has finished a save since the request:
// rdb_saves went up (Redis 7.0+), or else LASTSAVE moved past its value
// before the request. When another RDB child is running, Save waits for it
// and asks again, so the snapshot always starts after the call.
func (p *Pool) Save(ctx context.Context, addr string, poll time.Duration) (SaveState, error) {
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	for {
		before, err := p.Persistence(ctx, addr)
		if err != nil {
			return before, err
		}
		if before.Saves < 0 {
			// Without rdb_saves, LASTSAVE (whole seconds) must be able to
			// move: start in a later second than the last save.
			if err := sleep(ctx, time.Until(before.LastSave.Add(time.Second))); err != nil {
				return before, wrap(addr, "BGSAVE", err)
			}
		}
		err = p.BGSave(ctx, addr)
		if IsSaveInProgress(err) {
			if _, err := p.waitIdle(ctx, addr, poll); err != nil {
				return before, err
			}
			continue
		}
		if err != nil {
			return before, err
		}
		return p.waitSaved(ctx, addr, before, poll)
	}
}

// waitSaved polls until the save asked for after before has finished.
func (p *Pool) waitSaved(ctx context.Context, addr string, before SaveState, poll time.Duration) (SaveState, error) {
	for {
		st, err := p.waitIdle(ctx, addr, poll)
		if err != nil {
			return st, err
		}
		saved := st.LastSave.After(before.LastSave)
		if st.Saves >= 0 && before.Saves >= 0 {
			saved = st.Saves > before.Saves
		}
		switch {
		case saved:
			return st, nil
		case st.LastStatus == "err":
			return st, wrap(addr, "BGSAVE", ErrSaveFailed)
		}
		// Scheduled behind an AOF rewrite, or not started yet.
		if err := sleep(ctx, poll); err != nil {
			return st, wrap(addr, "BGSAVE", fmt.Errorf("waiting for the save: %w", err))
		}
	}
}

// waitIdle polls until no RDB child runs on the node.
func (p *Pool) waitIdle(ctx context.Context, addr string, poll time.Duration) (SaveState, error) {
	for {
		st, err := p.Persistence(ctx, addr)
		if err != nil || !st.InProgress {
			return st, err
		}
		if err := sleep(ctx, poll); err != nil {
			return st, wrap(addr, "BGSAVE", fmt.Errorf("waiting for the running save: %w", err))
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
