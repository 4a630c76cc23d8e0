package cluster

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestCRC16(t *testing.T) {
	tests := []struct {
		in   string
		want uint16
	}{
		{"123456789", 0x31C3}, // the XMODEM check value from the Redis Cluster spec
		{"", 0},
	}
	for _, tt := range tests {
		if got := CRC16([]byte(tt.in)); got != tt.want {
			t.Errorf("CRC16(%q) = %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
}

// The expected slots were read from a real redis-server 7.0 with
// CLUSTER KEYSLOT, so they check the hash-tag rules against Redis itself.
func TestKeySlot(t *testing.T) {
	tests := []struct {
		key    string
		want   int
		hashes string // the part of the key that must be hashed
	}{
		{"123456789", 12739, "123456789"},
		{"{user1000}.following", 3443, "user1000"},
		{"{user1000}.followers", 3443, "user1000"},
		{"foo{}{bar}", 8363, "foo{}{bar}"}, // empty tag: whole key
		{"foo{{bar}}zap", 4015, "{bar"},    // tag runs from the first '{' to the next '}'
		{"foo{bar}{zap}", 5061, "bar"},     // only the first tag counts
		{"foo", 12182, "foo"},
		{"somekey", 11058, "somekey"},
		{"{", 4092, "{"},
		{"}", 12090, "}"},
		{"{}", 15257, "{}"},
		{"a{b", 13340, "a{b"}, // no closing brace: whole key
		{"", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := KeySlot(tt.key); got != tt.want {
				t.Errorf("KeySlot(%q) = %d, want %d", tt.key, got, tt.want)
			}
			if got, want := KeySlot(tt.key), int(CRC16([]byte(tt.hashes))%NumSlots); got != want {
				t.Errorf("KeySlot(%q) = %d, want slot of %q = %d", tt.key, got, tt.hashes, want)
			}
		})
	}
	if KeySlot("{user1000}.following") != KeySlot("{user1000}.followers") {
		t.Error("keys sharing a hash tag must share a slot")
	}
}

func TestRange(t *testing.T) {
	tests := []struct {
		r    Range
		len  int
		text string
	}{
		{Range{0, 0}, 1, "0"},
		{Range{0, 5460}, 5461, "0-5460"},
		{Range{10923, 16383}, 5461, "10923-16383"},
		{Range{0, NumSlots - 1}, NumSlots, "0-16383"},
	}
	for _, tt := range tests {
		if got := tt.r.Len(); got != tt.len {
			t.Errorf("%v.Len() = %d, want %d", tt.r, got, tt.len)
		}
		if got := tt.r.String(); got != tt.text {
			t.Errorf("String() = %q, want %q", got, tt.text)
		}
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		in      string
		want    Range
		wantErr bool
	}{
		{"0", Range{0, 0}, false},
		{"16383", Range{16383, 16383}, false},
		{"0-16383", Range{0, 16383}, false},
		{"5461-10922", Range{5461, 10922}, false},
		{"7-7", Range{7, 7}, false},
		{"16384", Range{}, true},
		{"0-16384", Range{}, true},
		{"-1", Range{}, true},
		{"10-5", Range{}, true}, // reversed
		{"+5", Range{}, true},   // CLUSTER NODES never prints a sign
		{"5-", Range{}, true},
		{"-", Range{}, true},
		{"", Range{}, true},
		{"a-b", Range{}, true},
		{"1-2-3", Range{}, true},
		{"99999999999999999999", Range{}, true},
	}
	for _, tt := range tests {
		got, err := ParseRange(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseRange(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseRange(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSlotSet(t *testing.T) {
	tests := []struct {
		name   string
		ranges []Range
		len    int
		want   []Range
		text   string
	}{
		{"empty", nil, 0, nil, ""},
		{"one slot", []Range{{100, 100}}, 1, []Range{{100, 100}}, "100"},
		{"merges adjacent", []Range{{0, 9}, {10, 19}}, 20, []Range{{0, 19}}, "0-19"},
		{"merges overlap", []Range{{0, 10}, {5, 15}}, 16, []Range{{0, 15}}, "0-15"},
		{"keeps gaps", []Range{{10, 20}, {0, 5}}, 17, []Range{{0, 5}, {10, 20}}, "0-5 10-20"},
		{"word boundaries", []Range{{63, 64}, {127, 128}}, 4, []Range{{63, 64}, {127, 128}}, "63-64 127-128"},
		{"all", []Range{{0, NumSlots - 1}}, NumSlots, []Range{{0, NumSlots - 1}}, "0-16383"},
		{"clamps out of range", []Range{{-5, 2}, {16380, 20000}}, 7, []Range{{0, 2}, {16380, 16383}}, "0-2 16380-16383"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSlotSet(tt.ranges...)
			if got := s.Len(); got != tt.len {
				t.Errorf("Len() = %d, want %d", got, tt.len)
			}
			if got := s.Ranges(); !slices.Equal(got, tt.want) {
				t.Errorf("Ranges() = %v, want %v", got, tt.want)
			}
			if got := s.String(); got != tt.text {
				t.Errorf("String() = %q, want %q", got, tt.text)
			}
			if got := len(s.Slots()); got != tt.len {
				t.Errorf("len(Slots()) = %d, want %d", got, tt.len)
			}
		})
	}
}

func TestSlotSetOps(t *testing.T) {
	var s SlotSet
	s.Add(-1)
	s.Add(NumSlots)
	if s.Len() != 0 {
		t.Fatalf("out-of-range Add changed the set: %v", s.String())
	}
	s.Add(5)
	s.Add(6)
	if !s.Has(5) || !s.Has(6) || s.Has(7) || s.Has(-1) || s.Has(NumSlots) {
		t.Fatalf("Has wrong for %v", s.String())
	}
	s.Remove(5)
	if s.Has(5) || s.Len() != 1 {
		t.Fatalf("Remove(5) left %v", s.String())
	}

	a := NewSlotSet(Range{0, 99})
	b := NewSlotSet(Range{100, 199}, Range{1000, 1000})
	if a.Intersects(&b) {
		t.Error("disjoint sets reported as intersecting")
	}
	a.Union(&b)
	if got, want := a.String(), "0-199 1000"; got != want {
		t.Errorf("union = %q, want %q", got, want)
	}
	if a.Len() != 201 {
		t.Errorf("union Len() = %d, want 201", a.Len())
	}
	if !a.Intersects(&b) {
		t.Error("union does not intersect its operand")
	}
	if got := b.String(); got != "100-199 1000" {
		t.Errorf("Union modified its operand: %q", got)
	}
	if got := a.Slots()[:3]; !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("Slots() not ascending: %v", got)
	}
}

// TestSlotSetRangesRandom checks the word-skipping Ranges against a plain
// slot-by-slot scan on random sets.
func TestSlotSetRangesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for it := range 200 {
		var s SlotSet
		density := rng.Float64()
		for i := range NumSlots {
			if rng.Float64() < density {
				s.Add(i)
			}
		}
		if it%7 == 0 {
			s.AddRange(Range{rng.IntN(NumSlots), NumSlots - 1})
		}
		var want []Range
		start := -1
		for i := 0; i <= NumSlots; i++ {
			in := i < NumSlots && s.Has(i)
			if in && start < 0 {
				start = i
			} else if !in && start >= 0 {
				want = append(want, Range{start, i - 1})
				start = -1
			}
		}
		if got := s.Ranges(); !slices.Equal(got, want) {
			t.Fatalf("iteration %d: Ranges() differs from a plain scan (%d vs %d ranges)", it, len(got), len(want))
		}
	}
}
