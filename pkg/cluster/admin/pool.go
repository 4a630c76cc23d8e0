package admin

import (
	"crypto/tls"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configure the per-node admin clients. Zero values take the
// documented defaults.
type Options struct {
	// Username is the ACL user; "" means the default user.
	Username string
	// Password authenticates every connection; "" means no AUTH.
	Password string
	// TLS, when set, makes every connection TLS with this configuration
	// (its ServerName empty = the host each node is dialled at). nil =
	// plain TCP.
	TLS *tls.Config
	// DialTimeout bounds connecting to a node. Default 2s.
	DialTimeout time.Duration
	// ReadTimeout bounds each command's reply. Default 5s.
	ReadTimeout time.Duration
	// WriteTimeout bounds sending a command. Default: ReadTimeout.
	WriteTimeout time.Duration
	// ContextTimeout makes a call's context deadline bound its socket
	// reads and writes too (go-redis' ContextTimeoutEnabled). Off by
	// default: a cancelled context must not cut a reply in half.
	ContextTimeout bool
	// PoolSize is the connections kept per node. Default 8.
	PoolSize int
	// PasswordEnv names the environment variable the password came from,
	// so that an authentication error can tell the operator where to look
	// (never the password itself). Optional.
	PasswordEnv string
}

func (o Options) withDefaults() Options {
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 5 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = o.ReadTimeout
	}
	if o.PoolSize == 0 {
		o.PoolSize = 8
	}
	return o
}

// Pool hands out one plain (non-cluster) client per node address. Admin
// work must see MOVED/ASK replies and talk to one node at a time, which the
// go-redis ClusterClient hides.
type Pool struct {
	opts    Options
	mu      sync.Mutex
	clients map[string]*redis.Client
}

// NewPool returns an empty pool.
func NewPool(opts Options) *Pool {
	return &Pool{opts: opts.withDefaults(), clients: map[string]*redis.Client{}}
}

// Options returns the pool's options (with defaults applied).
func (p *Pool) Options() Options { return p.opts }

// Client returns the client for addr (host:port), creating it on first use.
func (p *Pool) Client(addr string) *redis.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[addr]; ok {
		return c
	}
	c := NewClient(addr, p.opts)
	p.clients[addr] = c
	return c
}

// Close closes every client.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first error
	for a, c := range p.clients {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
		delete(p.clients, a)
	}
	return first
}
