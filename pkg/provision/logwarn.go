package provision

import "strings"

// LogWarnings returns the warning lines of a Redis log tail that belong to
// the latest start ("Redis is starting" onwards): lines at warning level
// ('#') or that say WARNING.
func LogWarnings(tail []byte) []string {
	lines := strings.Split(string(tail), "\n")
	start := 0
	for i, l := range lines {
		if strings.Contains(l, "Redis is starting") {
			start = i + 1
		}
	}
	var out []string
	for _, l := range lines[start:] {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if strings.Contains(l, " # ") || strings.Contains(l, "WARNING") {
			out = append(out, l)
		}
	}
	return out
}
