package provision

import "strings"

// LogWarnings returns the warnings a Redis log tail holds for the node's
// latest start (from its last "Redis is starting" line on), each distinct
// warning once, as the line that first logged it. A warning is a line whose
// message starts with "WARNING" (in any case): overcommit_memory,
// transparent huge pages, the TCP backlog and the like. The log level says
// nothing: Redis 7 logs its start-up banner ("Redis version=…",
// "Configuration loaded", "Server initialized") and routine cluster events
// at warning level ('#') too.
func LogWarnings(tail []byte) []string {
	lines := strings.Split(string(tail), "\n")
	start := 0
	for i, l := range lines {
		if strings.Contains(l, "Redis is starting") {
			start = i + 1
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, l := range lines[start:] {
		l = strings.TrimSpace(l)
		msg := logMessage(l)
		if !isWarning(msg) || seen[msg] {
			continue
		}
		seen[msg] = true
		out = append(out, l)
	}
	return out
}

// logMessage returns the message of a Redis log line, "pid:role dd Mon
// yyyy hh:mm:ss.mmm level message", or the whole line when it has another
// form.
func logMessage(line string) string {
	f := strings.SplitN(line, " ", 7)
	if len(f) == 7 && strings.Contains(f[0], ":") && len(f[5]) == 1 && strings.Contains(".-*#", f[5]) {
		return f[6]
	}
	return line
}

func isWarning(msg string) bool {
	const w = "warning"
	return len(msg) >= len(w) && strings.EqualFold(msg[:len(w)], w)
}
