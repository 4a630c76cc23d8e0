package sandbox

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
)

// LoadOptions configure Load.
type LoadOptions struct {
	Seeds     []string // cluster node addresses
	Username  string
	Password  string
	TLS       *tls.Config // nil = plain TCP
	Keys      int         // how many keys; default 10000
	ValueSize int         // bytes per value; default 64
	Prefix    string      // key prefix; default "demo:"
}

// Load writes Keys keys through a cluster client, pipelined, so a demo or a
// trial rebalance has data to move. Values are deterministic so they can be
// checked after a migration.
func Load(ctx context.Context, o LoadOptions) (int, error) {
	if o.Keys <= 0 {
		o.Keys = 10000
	}
	if o.ValueSize <= 0 {
		o.ValueSize = 64
	}
	if o.Prefix == "" {
		o.Prefix = "demo:"
	}
	c := admin.NewClusterClient(admin.ClusterOptions{Seeds: o.Seeds}, admin.Options{Username: o.Username, Password: o.Password, TLS: o.TLS})
	defer c.Close()
	const batch = 2000
	for start := 0; start < o.Keys; start += batch {
		pipe := c.Pipeline()
		for i := start; i < min(start+batch, o.Keys); i++ {
			pipe.Set(ctx, o.Prefix+strconv.Itoa(i), value(i, o.ValueSize), 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return start, fmt.Errorf("load keys %d..%d: %w", start, min(start+batch, o.Keys)-1, err)
		}
	}
	return o.Keys, nil
}

func value(i, size int) []byte {
	b := make([]byte, size)
	s := strconv.Itoa(i) + ":"
	for j := range b {
		b[j] = s[j%len(s)]
	}
	return b
}
