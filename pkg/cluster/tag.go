package cluster

import "strconv"

// HashTag returns the shortest decimal string whose slot is in s, so that
// keys "{tag}…" all land in one of s's slots (in the smallest such tag's
// slot). It returns false when s is empty.
func HashTag(s *SlotSet) (string, bool) {
	if s.Len() == 0 {
		return "", false
	}
	// Every slot is reached within a few hundred thousand numbers; the
	// bound only guards against a broken hash.
	for i := 0; i < 1<<24; i++ {
		tag := strconv.Itoa(i)
		if s.Has(KeySlot(tag)) {
			return tag, true
		}
	}
	return "", false
}
