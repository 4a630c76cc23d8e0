package cluster

import "testing"

func TestHashTag(t *testing.T) {
	for _, r := range []Range{{0, 5460}, {5461, 10922}, {10923, 16383}, {7, 7}, {16383, 16383}} {
		s := NewSlotSet(r)
		tag, ok := HashTag(&s)
		if !ok || !s.Has(KeySlot("{"+tag+"}:42")) || !s.Has(KeySlot(tag)) {
			t.Errorf("range %s: tag %q (ok %v) hashes to slot %d", r, tag, ok, KeySlot(tag))
		}
	}
	var empty SlotSet
	if tag, ok := HashTag(&empty); ok {
		t.Errorf("empty set: tag %q", tag)
	}
}
