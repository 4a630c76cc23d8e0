package measure

import (
	"strconv"
	"strings"
)

// MemoryLimit is the denominator of memory percentages: INFO maxmemory,
// else the maxmemory directive from CONFIG GET (config may be nil), else
// the machine's memory (total_system_memory) when maxmemory is 0. what
// names it for messages ("maxmemory" or "system memory"); limit is 0 when
// none is known.
func MemoryLimit(info, config map[string]string) (limit float64, what string) {
	if mm, err := Float(info, "maxmemory"); err == nil && mm > 0 {
		return mm, "maxmemory"
	}
	if v, ok := config["maxmemory"]; ok {
		if b, ok := ParseSize(strings.ToLower(strings.Trim(strings.TrimSpace(v), `"'`))); ok && b > 0 {
			return float64(b), "maxmemory"
		}
	}
	if t, err := Float(info, "total_system_memory"); err == nil && t > 0 {
		return t, "system memory"
	}
	return 0, ""
}

// MemoryPercent is used_memory as a percentage of MemoryLimit; ok is false
// when no limit is known.
func MemoryPercent(info, config map[string]string) (pct float64, ok bool) {
	used, _ := Float(info, "used_memory")
	limit, _ := MemoryLimit(info, config)
	if limit <= 0 {
		return 0, false
	}
	return 100 * used / limit, true
}

// ParseSize parses a Redis memory size: digits with an optional k, kb, m,
// mb, g or gb suffix (Redis reads "1gb" as 1024³ and "1g" as 10⁹). The
// value must already be lowercase.
func ParseSize(v string) (int64, bool) {
	mult := int64(1)
	for _, s := range []struct {
		suffix string
		mult   int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}} {
		if strings.HasSuffix(v, s.suffix) {
			v, mult = strings.TrimSuffix(v, s.suffix), s.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n * mult, true
}
