package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Canary writes, reads back and deletes keys through a cluster client, so
// that routing is what applications get.
type Canary struct {
	cc *redis.ClusterClient
}

// NewCanary returns a Canary that discovers the cluster from seeds.
func NewCanary(seeds []string, opts Options) *Canary {
	return &Canary{cc: NewClusterClient(ClusterOptions{Seeds: seeds, MaxRedirects: 3}, opts)}
}

// WriteRead SETs key to a random value with ttl (in case the DEL never
// happens), GETs it back, compares, and DELs it. The error names the step
// that failed.
func (c *Canary) WriteRead(ctx context.Context, key string, ttl time.Duration) error {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	want := hex.EncodeToString(b)
	if err := c.cc.Set(ctx, key, want, ttl).Err(); err != nil {
		return fmt.Errorf("SET: %w", err)
	}
	got, err := c.cc.Get(ctx, key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return errors.New("GET: key missing right after SET")
	case err != nil:
		return fmt.Errorf("GET: %w", err)
	case got != want:
		return fmt.Errorf("GET returned %q, wrote %q", got, want)
	}
	if err := c.cc.Del(ctx, key).Err(); err != nil {
		return fmt.Errorf("DEL: %w", err)
	}
	return nil
}

// Close closes the cluster client.
func (c *Canary) Close() error { return c.cc.Close() }
