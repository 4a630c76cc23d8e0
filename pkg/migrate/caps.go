package migrate

import "context"

// The pacer's caps on the legacy mover: how many MIGRATEs, keys and bytes
// go into a source's next pipeline.

// keysPerMigrate is the most keys per MIGRATE from addr: KeysPerMigrate,
// capped by the pacer.
func (l *Legacy) keysPerMigrate(addr string) int {
	if l.opts.Pacer == nil {
		return l.opts.KeysPerMigrate
	}
	return min(l.opts.KeysPerMigrate, l.opts.Pacer.Current(addr).Keys)
}

// pipeCaps bound the next MIGRATE pipeline of a source.
type pipeCaps struct {
	depth int   // MIGRATEs in the pipeline
	keys  int   // keys per MIGRATE
	bytes int64 // bytes per MIGRATE; 0: no cap
	// turn: take a turn into the target (see Legacy.takeTurn), as the
	// pacer has cut the source to a duty cycle.
	turn bool
}

// pipeline rests as the pacer says after addr's last pipeline and returns
// the caps of the next one to dst: MigratesPerPipeline, KeysPerMigrate and
// BytesPerMigrate, each capped by the pacer's current pace, so that a cut
// applies from the next MIGRATE on, not from the next listing.
func (l *Legacy) pipeline(ctx context.Context, addr, dst string) (pipeCaps, error) {
	c := pipeCaps{depth: l.opts.MigratesPerPipeline, keys: l.opts.KeysPerMigrate, bytes: max(0, l.opts.BytesPerMigrate)}
	if l.opts.Pacer == nil {
		return c, nil
	}
	pc, err := l.opts.Pacer.Wait(ctx, addr, dst)
	c.depth = max(1, min(c.depth, pc.Depth))
	c.keys = max(1, min(c.keys, pc.Keys))
	if b := l.opts.Pacer.opts.Bytes(pc); c.bytes == 0 || b < c.bytes {
		c.bytes = b
	}
	c.turn = pc.Rest > 0
	return c, err
}

// cut splits b after its first keys, at most keys of them and of at most
// bytes bytes (0: any), and at least one.
func (b migrateBatch) cut(keys int, bytes int64) (head, tail migrateBatch, ok bool) {
	n, sum := 0, int64(0)
	for n < len(b.keys) && n < keys {
		var s int64
		if b.sizes != nil {
			s = b.sizes[n]
		}
		if n > 0 && bytes > 0 && sum+s > bytes {
			break
		}
		sum += s
		n++
	}
	if n >= len(b.keys) {
		return b, migrateBatch{}, false
	}
	head, tail = b, b
	head.keys, tail.keys = b.keys[:n:n], b.keys[n:]
	if b.sizes != nil {
		head.sizes, tail.sizes = b.sizes[:n:n], b.sizes[n:]
	}
	head.bytes, tail.bytes = sum, b.bytes-sum
	return head, tail, true
}
