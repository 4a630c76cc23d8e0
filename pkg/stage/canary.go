package stage

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
)

// canary writes, reads back and deletes one key per master that owns
// slots, through a cluster client (so routing is what applications get),
// each with a short TTL in case the delete never happens.
func (o *observer) canary(ctx context.Context, l check.Live) map[string]check.CanaryResult {
	var seeds []string
	for _, a := range l.MemberAddrs() {
		if ob, ok := l.Snap.Nodes[a]; ok && ob.OK() {
			seeds = append(seeds, a)
		}
	}
	keyOf := map[string]string{}
	for _, m := range l.Masters() {
		if k, ok := check.CanaryKey(&m.Slots); ok {
			keyOf[m.Addr] = k
		}
	}
	if len(seeds) == 0 || len(keyOf) == 0 {
		return nil
	}
	c := admin.NewCanary(seeds, admin.Options{
		Username:    o.secrets.Username,
		Password:    o.secrets.Password,
		TLS:         o.secrets.TLS,
		DialTimeout: dialTimeout,
		ReadTimeout: canaryTimeout,
	})
	defer func() { _ = c.Close() }()
	return perNode(ctx, slices.Sorted(maps.Keys(keyOf)), func(ctx context.Context, addr string) check.CanaryResult {
		key := keyOf[addr]
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, canaryTimeout)
		err := c.WriteRead(wctx, key, canaryTTL)
		cancel()
		r := check.CanaryResult{Key: key, Duration: time.Since(start)}
		if err != nil {
			r.Err = err.Error()
		}
		return r
	})
}
