package cluster

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// NumSlots is the number of hash slots in a Redis Cluster.
const NumSlots = 16384

// crc16tab is the CRC16-CCITT (XMODEM) table used by Redis Cluster.
var crc16tab = func() [256]uint16 {
	var t [256]uint16
	for i := range 256 {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()

// CRC16 returns the CRC16-CCITT (XMODEM) checksum Redis Cluster uses.
func CRC16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc = crc<<8 ^ crc16tab[byte(crc>>8)^c]
	}
	return crc
}

// KeySlot returns the hash slot of key, honouring hash tags: when the key
// contains "{...}" with at least one character between the first '{' and the
// next '}', only that substring is hashed.
func KeySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(CRC16([]byte(key)) % NumSlots)
}

// Range is an inclusive range of slots [Start, End].
type Range struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// Len returns the number of slots in r.
func (r Range) Len() int { return r.End - r.Start + 1 }

// String formats r as "start-end", or "start" for a single slot.
func (r Range) String() string {
	if r.Start == r.End {
		return strconv.Itoa(r.Start)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End)
}

// SlotSet is a set of hash slots. The zero value is empty and ready to use.
type SlotSet struct {
	w [NumSlots / 64]uint64
}

// NewSlotSet returns a set holding the given ranges.
func NewSlotSet(ranges ...Range) SlotSet {
	var s SlotSet
	for _, r := range ranges {
		s.AddRange(r)
	}
	return s
}

// Add adds slot to the set. Slots outside [0, NumSlots) are ignored.
func (s *SlotSet) Add(slot int) {
	if slot < 0 || slot >= NumSlots {
		return
	}
	s.w[slot>>6] |= 1 << (slot & 63)
}

// AddRange adds every slot of r. The part of r outside [0, NumSlots) is
// ignored, so a corrupt range cannot make the loop run for long.
func (s *SlotSet) AddRange(r Range) {
	start, end := max(r.Start, 0), min(r.End, NumSlots-1)
	for i := start; i <= end; i++ {
		s.Add(i)
	}
}

// Remove removes slot from the set.
func (s *SlotSet) Remove(slot int) {
	if slot < 0 || slot >= NumSlots {
		return
	}
	s.w[slot>>6] &^= 1 << (slot & 63)
}

// Has reports whether slot is in the set.
func (s *SlotSet) Has(slot int) bool {
	if slot < 0 || slot >= NumSlots {
		return false
	}
	return s.w[slot>>6]&(1<<(slot&63)) != 0
}

// Len returns the number of slots in the set.
func (s *SlotSet) Len() int {
	n := 0
	for _, w := range s.w {
		n += bits.OnesCount64(w)
	}
	return n
}

// Union adds every slot of o to s.
func (s *SlotSet) Union(o *SlotSet) {
	for i := range s.w {
		s.w[i] |= o.w[i]
	}
}

// Intersects reports whether s and o share a slot.
func (s *SlotSet) Intersects(o *SlotSet) bool {
	for i := range s.w {
		if s.w[i]&o.w[i] != 0 {
			return true
		}
	}
	return false
}

// Slots returns the slots in ascending order.
func (s *SlotSet) Slots() []int {
	out := make([]int, 0, s.Len())
	for i, w := range s.w {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			out = append(out, i*64+b)
			w &^= 1 << b
		}
	}
	return out
}

// Ranges returns the set as ascending, maximal contiguous ranges. It skips
// whole 64-slot words, so a sparse or a full set costs little.
func (s *SlotSet) Ranges() []Range {
	var out []Range
	for i := s.nextSet(0); i < NumSlots; {
		end := s.nextClear(i)
		out = append(out, Range{i, end - 1})
		i = s.nextSet(end)
	}
	return out
}

// nextSet returns the first slot >= i in the set, or NumSlots.
func (s *SlotSet) nextSet(i int) int {
	for i < NumSlots {
		if w := s.w[i>>6] >> (i & 63); w != 0 {
			return i + bits.TrailingZeros64(w)
		}
		i = (i | 63) + 1
	}
	return NumSlots
}

// nextClear returns the first slot >= i not in the set, or NumSlots.
func (s *SlotSet) nextClear(i int) int {
	for i < NumSlots {
		if w := ^s.w[i>>6] >> (i & 63); w != 0 {
			return i + bits.TrailingZeros64(w)
		}
		i = (i | 63) + 1
	}
	return NumSlots
}

// String formats the set as space-separated ranges, e.g. "0-5460 5462".
func (s *SlotSet) String() string {
	rs := s.Ranges()
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, " ")
}

// ParseRange parses "N" or "N-M" into a Range, checking bounds. Only plain
// decimal digits are accepted (no sign), as CLUSTER NODES prints them.
func ParseRange(s string) (Range, error) {
	a, b, found := strings.Cut(s, "-")
	start, err := parseDigits(a)
	if err != nil {
		return Range{}, fmt.Errorf("slot range %q: %w", s, err)
	}
	end := start
	if found {
		if end, err = parseDigits(b); err != nil {
			return Range{}, fmt.Errorf("slot range %q: %w", s, err)
		}
	}
	if start < 0 || end >= NumSlots || start > end {
		return Range{}, fmt.Errorf("slot range %q out of bounds [0, %d]", s, NumSlots-1)
	}
	return Range{start, end}, nil
}

// parseDigits parses a non-empty string of decimal digits of at most 9
// digits (enough for any slot, and no overflow).
func parseDigits(s string) (int, error) {
	if s == "" || len(s) > 9 {
		return 0, fmt.Errorf("%q is not a slot number", s)
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a slot number", s)
		}
		v = v*10 + int(c-'0')
	}
	return v, nil
}
