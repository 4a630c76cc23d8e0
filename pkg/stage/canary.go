package stage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// canaryPrefix starts every canary key, so that an operator who sees one
// knows what wrote it (they expire within canaryTTL anyway).
const canaryPrefix = "slotshift:canary:"

// CanaryKey returns the first key "slotshift:canary:<n>" whose hash slot is
// in slots, so that a write of it lands on the master owning slots. ok is
// false when slots is empty.
func CanaryKey(slots *cluster.SlotSet) (string, bool) {
	if slots.Len() == 0 {
		return "", false
	}
	for i := range maxCanaryTries {
		k := canaryPrefix + strconv.Itoa(i)
		if slots.Has(cluster.KeySlot(k)) {
			return k, true
		}
	}
	// Unreachable in practice: 4M keys cover every slot many times over.
	return "", false
}

// canary writes, reads back and deletes one key per master that owns
// slots, through a go-redis ClusterClient (so routing is what applications
// get), each with a short TTL in case the delete never happens.
func (o *observer) canary(ctx context.Context, l Live) map[string]CanaryResult {
	var seeds []string
	for _, a := range l.memberAddrs() {
		if ob, ok := l.Snap.Nodes[a]; ok && ob.OK() {
			seeds = append(seeds, a)
		}
	}
	keyOf := map[string]string{}
	for _, m := range l.Masters() {
		if k, ok := CanaryKey(&m.Slots); ok {
			keyOf[m.Addr] = k
		}
	}
	if len(seeds) == 0 || len(keyOf) == 0 {
		return nil
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:           seeds,
		Username:        o.secrets.Username,
		Password:        o.secrets.Password,
		DialTimeout:     dialTimeout,
		ReadTimeout:     canaryTimeout,
		WriteTimeout:    canaryTimeout,
		MaxRedirects:    3,
		DisableIdentity: true,
		Protocol:        2,
	})
	defer func() { _ = cc.Close() }()
	return perNode(ctx, slices.Sorted(maps.Keys(keyOf)), func(ctx context.Context, addr string) CanaryResult {
		key := keyOf[addr]
		start := time.Now()
		err := writeRead(ctx, cc, key)
		r := CanaryResult{Key: key, Duration: time.Since(start)}
		if err != nil {
			r.Err = err.Error()
		}
		return r
	})
}

func writeRead(ctx context.Context, cc *redis.ClusterClient, key string) error {
	ctx, cancel := context.WithTimeout(ctx, canaryTimeout)
	defer cancel()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	want := hex.EncodeToString(b)
	if err := cc.Set(ctx, key, want, canaryTTL).Err(); err != nil {
		return fmt.Errorf("SET: %w", err)
	}
	got, err := cc.Get(ctx, key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return errors.New("GET: key missing right after SET")
	case err != nil:
		return fmt.Errorf("GET: %w", err)
	case got != want:
		return fmt.Errorf("GET returned %q, wrote %q", got, want)
	}
	if err := cc.Del(ctx, key).Err(); err != nil {
		return fmt.Errorf("DEL: %w", err)
	}
	return nil
}
