package load

import (
	"strconv"
	"strings"
)

// keyState is what the generator knows of one key: the version of the last
// acknowledged write and of the last write sent (0 = none). Versions count
// a key's writes from 1; writes after the last acknowledged one all failed,
// so their outcome is unknown.
type keyState struct {
	acked, attempted uint32
}

// codec builds and recognises the values of one run. A value is
// "<run>:<key index>:<version>:" padded with '.' to a size derived from the
// key and the version, so that it can be rebuilt from the version alone.
type codec struct {
	run      string // no ':' in it
	min, max int
}

// size returns the size of version v of key i, in [min, max].
func (c codec) size(i int, v uint32) int {
	if c.min == c.max {
		return c.min
	}
	return c.min + int(mix(uint64(i)<<32|uint64(v))%uint64(c.max-c.min+1))
}

// value returns the value of write version v of key i.
func (c codec) value(i int, v uint32) string {
	var b strings.Builder
	n := c.size(i, v)
	b.Grow(n)
	b.WriteString(c.run)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(i))
	b.WriteByte(':')
	b.WriteString(strconv.FormatUint(uint64(v), 10))
	b.WriteByte(':')
	for b.Len() < n {
		b.WriteByte('.')
	}
	return b.String()
}

// version returns the write version val holds for key i, or ok false when
// val is not exactly a value this run wrote for key i.
func (c codec) version(i int, val string) (v uint32, ok bool) {
	parts := strings.SplitN(val, ":", 4)
	if len(parts) != 4 || parts[0] != c.run || parts[1] != strconv.Itoa(i) {
		return 0, false
	}
	n, err := strconv.ParseUint(parts[2], 10, 32)
	if err != nil || n == 0 {
		return 0, false
	}
	v = uint32(n)
	return v, val == c.value(i, v)
}

// verdict is what a read of a key says about it.
type verdict int

const (
	// verdictOK: the last acknowledged value, or a key with no acknowledged
	// write (nothing to judge).
	verdictOK verdict = iota
	// verdictUnknownApplied: the value of a write after the last
	// acknowledged one, whose outcome was unknown.
	verdictUnknownApplied
	// verdictLost: missing although a write was acknowledged.
	verdictLost
	// verdictStale: the value of a write older than the last acknowledged.
	verdictStale
	// verdictForeign: a value no write of this run produced for this key.
	verdictForeign
)

// judge classifies a read of key i (exists false: the key is missing)
// given what the generator knows of it.
func (c codec) judge(i int, st keyState, val string, exists bool) verdict {
	if st.acked == 0 {
		return verdictOK // the key may hold anything from before the run
	}
	if !exists {
		return verdictLost
	}
	v, ok := c.version(i, val)
	switch {
	case !ok || v > st.attempted:
		return verdictForeign
	case v == st.acked:
		return verdictOK
	case v < st.acked:
		return verdictStale
	default:
		return verdictUnknownApplied
	}
}

// mix is splitmix64's finaliser: a cheap, well-spread hash.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ (x >> 31)
}
