package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults and limits of Options.
const (
	DefaultDuration      = 30 * time.Second
	DefaultClients       = 8
	DefaultKeys          = 10000
	DefaultPrefix        = "slotshift:load:"
	DefaultValueSize     = 64
	DefaultVerifyTimeout = 10 * time.Second
	// MaxKeys bounds the key space, and so the generator's memory (8 bytes
	// per key).
	MaxKeys = 1 << 20
	// MaxClients bounds the client goroutines.
	MaxClients = 1024
	// MaxValueSize bounds a value (1 MiB).
	MaxValueSize = 1 << 20
)

// Options configure a load run. Zero values take the documented defaults.
type Options struct {
	// Seeds are node addresses (host:port) to discover the cluster from.
	// Required.
	Seeds []string
	// Username (ACL user, "" = default) and Password ("" = no AUTH).
	Username, Password string
	// TLS, when set, makes the connections TLS (see admin.Options.TLS).
	TLS *tls.Config

	// Duration bounds the load phase. Default 30s; it is always bounded.
	Duration time.Duration
	// MaxOps, when > 0, also ends the load phase after that many
	// operations.
	MaxOps int64
	// Rate is the total operations per second over every client; 0 means
	// as fast as the clients go.
	Rate int
	// Clients is the number of goroutines, each with one operation in
	// flight. Default 8; at most MaxClients and at most Keys.
	Clients int
	// Keys is the number of distinct keys, Prefix followed by 0..Keys-1.
	// Default 10000; at most MaxKeys.
	Keys int
	// Prefix starts every key. Default "slotshift:load:".
	Prefix string
	// ValueMin and ValueMax bound a value's size in bytes (each write picks
	// one in between). Default 64 each. A value is never shorter than its
	// header (run, key, version: about 30 bytes).
	ValueMin, ValueMax int
	// ReadPercent is the share of reads among operations, 0..100; 0 means
	// writes only.
	ReadPercent int

	// DialTimeout bounds connecting to a node. Default 2s.
	DialTimeout time.Duration
	// ReadTimeout bounds each reply; an operation that exceeds it counts
	// as a timeout (and a write's outcome as unknown). Default 2s.
	ReadTimeout time.Duration
	// MaxRedirects bounds MOVED/ASK hops per operation. Default 3.
	MaxRedirects int
	// VerifyTimeout bounds the read-back (and the clean-up) after the load
	// phase, which runs on a fresh context so that it happens even when
	// the run's context was cancelled. Default 10s.
	VerifyTimeout time.Duration
	// KeepKeys leaves the keys in the cluster after the read-back; by
	// default the run deletes every key it wrote.
	KeepKeys bool

	// OnSecond, when set, receives each second of the load phase as it
	// closes (for a status line). It is called from the client goroutines,
	// possibly from two at once, and must not block.
	OnSecond func(Second)

	// BeforeVerify, when set, is called after the load phase and before the
	// read-back with the keys whose writes were acknowledged. A test seam:
	// it may change the cluster behind the generator's back. An error
	// stops the run before the read-back.
	BeforeVerify func(ctx context.Context, acked []string) error
}

func (o Options) withDefaults() Options {
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Clients == 0 {
		o.Clients = DefaultClients
	}
	if o.Keys == 0 {
		o.Keys = DefaultKeys
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.ValueMin == 0 && o.ValueMax == 0 {
		o.ValueMin, o.ValueMax = DefaultValueSize, DefaultValueSize
	} else if o.ValueMax == 0 {
		o.ValueMax = o.ValueMin
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 2 * time.Second
	}
	if o.VerifyTimeout == 0 {
		o.VerifyTimeout = DefaultVerifyTimeout
	}
	return o
}

// Validate reports every invalid setting of o (after defaults) at once.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if len(o.Seeds) == 0 {
		bad("no seed addresses")
	}
	if o.Duration < 0 {
		bad("duration %s: want > 0", o.Duration)
	}
	if o.MaxOps < 0 {
		bad("max ops %d: want >= 0", o.MaxOps)
	}
	if o.Rate < 0 {
		bad("rate %d: want >= 0 (0 = as fast as possible)", o.Rate)
	}
	if o.Keys < 1 || o.Keys > MaxKeys {
		bad("keys %d: want 1..%d", o.Keys, MaxKeys)
	}
	if o.Clients < 1 || o.Clients > MaxClients {
		bad("clients %d: want 1..%d", o.Clients, MaxClients)
	} else if o.Clients > o.Keys {
		bad("clients %d > keys %d: every client owns at least one key", o.Clients, o.Keys)
	}
	if o.ValueMin < 1 || o.ValueMax > MaxValueSize || o.ValueMin > o.ValueMax {
		bad("value size %d-%d: want 1 <= min <= max <= %d", o.ValueMin, o.ValueMax, MaxValueSize)
	}
	if o.ReadPercent < 0 || o.ReadPercent > 100 {
		bad("read percent %d: want 0..100", o.ReadPercent)
	}
	if o.DialTimeout < 0 || o.ReadTimeout < 0 || o.VerifyTimeout < 0 {
		bad("timeouts must not be negative")
	}
	if len(errs) > 0 {
		return errors.New("load: " + strings.Join(errs, "; "))
	}
	return nil
}
