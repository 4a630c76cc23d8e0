// Package redisconf reads and writes redis.conf syntax: quoting that the
// server's config parser (sdssplitargs) reads back exactly, so any
// password survives, and a directive map for comparing files. It does no I/O.
package redisconf

import (
	"fmt"
	"strings"
)

// Quote quotes a value the way redis.conf's parser (sdssplitargs)
// reads it back, so that any password round-trips.
func Quote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\x%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Unquote undoes Quote for a single double-quoted word; anything
// else is returned as written.
func Unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	var b strings.Builder
	in := v[1 : len(v)-1]
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c != '\\' || i+1 == len(in) {
			b.WriteByte(c)
			continue
		}
		i++
		switch in[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'x':
			if i+2 < len(in) {
				var x byte
				for _, h := range in[i+1 : i+3] {
					x <<= 4
					switch {
					case h >= '0' && h <= '9':
						x |= byte(h - '0')
					case h >= 'a' && h <= 'f':
						x |= byte(h-'a') + 10
					case h >= 'A' && h <= 'F':
						x |= byte(h-'A') + 10
					}
				}
				b.WriteByte(x)
				i += 2
			}
		default:
			b.WriteByte(in[i])
		}
	}
	return b.String()
}

// Parse reads directive → value (the rest of the line, unquoted when
// it is one quoted word) from a redis.conf. Later lines win, as in Redis.
func Parse(content []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(content), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		out[strings.ToLower(k)] = Unquote(strings.TrimSpace(v))
	}
	return out
}
