package cluster

import "strings"

// ParseInfo parses INFO or CLUSTER INFO text into a flat map of its
// "key:value" lines; section headers and blank lines are skipped. Keyspace
// lines keep their value whole ("db0" → "keys=1,expires=0,avg_ttl=0").
func ParseInfo(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// InfoField returns the value of one "key:value" line of INFO or CLUSTER
// INFO text, or "" when there is none.
func InfoField(text, key string) string {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return ""
}
