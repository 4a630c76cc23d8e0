package inventory

import "strings"

// suggest returns the candidate closest to key when it is close enough to be
// a likely typo, or "".
func suggest(key string, candidates []string) string {
	k := strings.ToLower(key)
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(k, c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	limit := max(1, min(3, len(k)/3))
	if bestDist <= limit {
		return best
	}
	// A truncated or over-long key ("password" for "password_env",
	// "ports" for "port") is a typo too, even when far by edit distance.
	for _, c := range candidates {
		if len(k) >= 4 && (strings.HasPrefix(c, k) || strings.HasPrefix(k, c)) {
			return c
		}
	}
	return ""
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours each cost one,
// so "prot" is one step from "port".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
