package load

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Read-back settings.
const (
	verifyBatch  = 500 // GETs per pipeline
	verifyRounds = 3   // passes over keys whose read failed
	sampleKeys   = 20  // lost or stale key names kept in the result
)

// Verify is what reading back every acknowledged key found.
type Verify struct {
	Keys           int // keys with an acknowledged write, all read back
	Lost           int // missing
	Stale          int // holding the value of a write older than the last acknowledged
	Foreign        int // holding a value no write of this run produced for the key
	Unknown        int // keys whose last write's outcome is unknown
	UnknownApplied int // ... holding that write's value (neither lost nor stale)
	Unverified     int // could not be read back (errors, or the time ran out)
	// ReadsMissing and ReadsStale count reads during the load phase that
	// found an acknowledged key missing, or stale or foreign.
	ReadsMissing, ReadsStale int64
	LostKeys, StaleKeys      []string // the first few found (stale keys include foreign ones)
	Elapsed                  time.Duration
}

// ref names one key and where its state lives.
type ref struct {
	i  int // key index
	st keyState
}

// touched returns every key with an acknowledged write, and how many keys
// have a write with an unknown outcome pending.
func (g *Generator) touched() (acked []ref, unknown int) {
	for i := range g.opts.Keys {
		st := g.state[i%g.opts.Clients][i/g.opts.Clients]
		if st.attempted > st.acked {
			unknown++
		}
		if st.acked > 0 {
			acked = append(acked, ref{i, st})
		}
	}
	return acked, unknown
}

func (g *Generator) ackedKeys() []string {
	refs, _ := g.touched()
	out := make([]string, len(refs))
	for n, r := range refs {
		out[n] = g.key(r.i)
	}
	return out
}

// verify reads back every acknowledged key, in pipelines, retrying the
// reads that failed, until ctx ends.
func (g *Generator) verify(ctx context.Context) Verify {
	start := time.Now()
	refs, unknown := g.touched()
	v := Verify{Keys: len(refs), Unknown: unknown}
	pending := refs
	for round := 0; round < verifyRounds && len(pending) > 0 && ctx.Err() == nil; round++ {
		var failed []ref
		for lo := 0; lo < len(pending); lo += verifyBatch {
			batch := pending[lo:min(lo+verifyBatch, len(pending))]
			if ctx.Err() != nil {
				failed = append(failed, batch...)
				continue
			}
			failed = append(failed, g.verifyBatch(ctx, batch, &v)...)
		}
		pending = failed
	}
	v.Unverified = len(pending)
	v.Elapsed = time.Since(start)
	return v
}

// verifyBatch reads one batch and tallies it into v; it returns the refs
// whose read failed.
func (g *Generator) verifyBatch(ctx context.Context, batch []ref, v *Verify) []ref {
	cmds := make([]*redis.StringCmd, len(batch))
	_, _ = g.cc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n, r := range batch {
			cmds[n] = p.Get(ctx, g.key(r.i))
		}
		return nil
	})
	var failed []ref
	for n, r := range batch {
		val, err := cmds[n].Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			failed = append(failed, r)
			continue
		}
		switch g.codec.judge(r.i, r.st, val, err == nil) {
		case verdictLost:
			v.Lost++
			v.LostKeys = appendSample(v.LostKeys, g.key(r.i))
		case verdictStale:
			v.Stale++
			v.StaleKeys = appendSample(v.StaleKeys, g.key(r.i))
		case verdictForeign:
			v.Foreign++
			v.StaleKeys = appendSample(v.StaleKeys, g.key(r.i))
		case verdictUnknownApplied:
			v.UnknownApplied++
		}
	}
	return failed
}

func appendSample(s []string, key string) []string {
	if len(s) < sampleKeys {
		s = append(s, key)
	}
	return s
}

// cleanup deletes every key the run attempted to write.
func (g *Generator) cleanup(ctx context.Context) error {
	var keys []string
	for i := range g.opts.Keys {
		if g.state[i%g.opts.Clients][i/g.opts.Clients].attempted > 0 {
			keys = append(keys, g.key(i))
		}
	}
	for lo := 0; lo < len(keys); lo += verifyBatch {
		batch := keys[lo:min(lo+verifyBatch, len(keys))]
		if _, err := g.cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range batch {
				p.Del(ctx, k)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}
