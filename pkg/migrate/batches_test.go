package migrate

import (
	"fmt"
	"testing"
)

// TestBatches: keys split by count and bytes, in slot order; busy keys go
// in REPLACE batches of their own; unmeasured keys count no bytes.
func TestBatches(t *testing.T) {
	l := &Legacy{opts: LegacyOptions{BytesPerMigrate: 100}}
	keys := []slotKeys{
		{slot: 3, keys: []string{"a", "b", "c", "d", "e"}, sizes: []int64{10, 10, 90, 10, 10}},
		{slot: 7, keys: []string{"f", "g", "h"}, sizes: []int64{1, 1, 1}},
		{slot: 9, keys: []string{"i", "j", "k"}},
	}
	busy := map[int]map[string]bool{7: {"g": true}}
	got := l.batches(nil, keys, busy, 2)
	want := "3:[a b]20 3:[c d]100 3:[e]10 7:[f h]2 7:R[g]1 9:[i j]0 9:[k]0"
	if s := batchesText(got); s != want {
		t.Errorf("batches\n got %s\nwant %s", s, want)
	}
	// Reusing the slice does not disturb the keys it held.
	got = l.batches(got[:0], keys[2:], nil, 5)
	if s := batchesText(got); s != "9:[i j k]0" {
		t.Errorf("reused: %s", s)
	}
	if s := keys[0].keys; fmt.Sprint(s) != "[a b c d e]" {
		t.Errorf("keys changed: %v", s)
	}
}

func batchesText(bs []migrateBatch) string {
	s := ""
	for i, b := range bs {
		if i > 0 {
			s += " "
		}
		r := ""
		if b.replace {
			r = "R"
		}
		s += fmt.Sprintf("%d:%s%v%d", b.slot, r, b.keys, b.bytes)
	}
	return s
}
