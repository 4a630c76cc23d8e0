package admin

import (
	"crypto/tls"

	"github.com/redis/go-redis/v9"
)

// ClusterOptions are what a cluster client needs beyond Options: the
// addresses to discover the cluster from, and how many MOVED/ASK hops to
// follow.
type ClusterOptions struct {
	// Seeds are node addresses (host:port) to discover the cluster from.
	Seeds []string
	// MaxRedirects bounds MOVED/ASK hops per command. Default 3 (go-redis').
	MaxRedirects int
	// MaxRetries is how often a failed command is retried (network errors,
	// TRYAGAIN, CLUSTERDOWN). 0 means go-redis' default of 3; -1 means none.
	MaxRetries int
}

// NewClient builds the one plain client for a node. Every plain go-redis
// client in slotshift comes from here, so that credentials, timeouts and
// TLS are set in one place. Admin commands are never blindly
// retried, and a node that does not answer is reported after one dial.
func NewClient(addr string, opts Options) *redis.Client {
	o := opts.withDefaults()
	return redis.NewClient(&redis.Options{
		Addr:                  addr,
		Username:              o.Username,
		Password:              o.Password,
		TLSConfig:             o.tlsConfig(),
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		ContextTimeoutEnabled: o.ContextTimeout,
		PoolSize:              o.PoolSize,
		MaxRetries:            -1, // admin commands are not blindly retried
		// One dial attempt: an unreachable node must be reported at once,
		// not after go-redis' default five attempts.
		DialerRetries:   1,
		DisableIdentity: true,
		Protocol:        2,
		// slotshift keeps a client per node, and a monitor on a 100-node
		// cluster holds a few connections to each. go-redis' defaults
		// (32 KiB per direction, 128 KiB for pipelines) made that ~40 MB
		// of buffers; replies to admin commands are small, and a larger
		// one (a key listing) only takes a few more reads.
		ReadBufferSize:          bufferSize,
		WriteBufferSize:         bufferSize,
		PipelineReadBufferSize:  pipelineBufferSize,
		PipelineWriteBufferSize: pipelineBufferSize,
	})
}

// Connection buffer sizes of the plain clients (see NewClient).
const (
	bufferSize         = 8 << 10
	pipelineBufferSize = 32 << 10
)

// NewClusterClient builds the one cluster client: for canaries, load and
// data checks, never for admin work (it hides MOVED and ASK).
func NewClusterClient(c ClusterOptions, opts Options) *redis.ClusterClient {
	o := opts.withDefaults()
	redirects := c.MaxRedirects
	if redirects == 0 {
		redirects = 3
	}
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 c.Seeds,
		Username:              o.Username,
		Password:              o.Password,
		TLSConfig:             o.tlsConfig(),
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		ContextTimeoutEnabled: o.ContextTimeout,
		PoolSize:              o.PoolSize,
		MaxRedirects:          redirects,
		MaxRetries:            c.MaxRetries,
		DisableIdentity:       true,
		Protocol:              2,
	})
}

// tlsConfig is a copy of the TLS configuration per client: crypto/tls
// fills ServerName from the dialled address when it is empty, and a
// shared config must not be written to.
func (o Options) tlsConfig() *tls.Config {
	if o.TLS == nil {
		return nil
	}
	return o.TLS.Clone()
}
