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

// Server names the server software and its version from INFO's server
// section: "Valkey", "9.1.0" from server_name:valkey and valkey_version
// (Valkey 8+ reports redis_version:7.2.4 for compatibility, so that alone
// says nothing), "Redis", redis_version otherwise. version is "" when INFO
// has none.
func Server(info map[string]string) (name, version string) {
	if n := info["server_name"]; n != "" && !strings.EqualFold(n, "redis") {
		name = strings.ToUpper(n[:1]) + n[1:]
		if v := info[strings.ToLower(n)+"_version"]; v != "" {
			return name, v
		}
		return name, info["redis_version"]
	}
	return "Redis", info["redis_version"]
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
