package main

import "strconv"

// Value sizes, in bytes, of the benchmark's keys (inclusive bounds).
const (
	minValueSize = 32
	maxValueSize = 128
)

// keyName is the name of the benchmark's i-th key.
func keyName(i int) string { return "key:" + strconv.Itoa(i) }

// mix is SplitMix64's finaliser: it spreads consecutive key indices over
// the whole value-size range without any global random state, so every
// cluster (and the floor's file) holds exactly the same data.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// valueSize is the size of the i-th key's value, in [minValueSize,
// maxValueSize].
func valueSize(i int) int {
	return minValueSize + int(mix(uint64(i))%uint64(maxValueSize-minValueSize+1))
}

// appendValue appends the i-th key's value to dst: valueSize(i) printable
// bytes derived from i.
func appendValue(dst []byte, i int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	n := valueSize(i)
	h := mix(uint64(i) ^ 0x5bd1e995)
	for j := range n {
		dst = append(dst, alphabet[(h>>(uint(j)%58))%uint64(len(alphabet))])
		if j%8 == 7 {
			h = mix(h)
		}
	}
	return dst
}

// appendSetRESP appends the RESP encoding of SET keyName(i) value(i) to
// dst, the format `redis-cli --pipe` reads.
func appendSetRESP(dst []byte, i int) []byte {
	key := keyName(i)
	dst = append(dst, "*3\r\n$3\r\nSET\r\n$"...)
	dst = strconv.AppendInt(dst, int64(len(key)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, key...)
	dst = append(dst, "\r\n$"...)
	dst = strconv.AppendInt(dst, int64(valueSize(i)), 10)
	dst = append(dst, "\r\n"...)
	dst = appendValue(dst, i)
	return append(dst, "\r\n"...)
}
