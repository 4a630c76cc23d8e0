package provision

import (
	"bufio"
	"strings"
)

// Mask replaces secrets in everything provision reports.
const Mask = "********"

// Scrubber removes secret values from text bound for reports and logs.
type Scrubber struct{ r *strings.Replacer }

// NewScrubber returns a Scrubber for the non-empty secrets.
func NewScrubber(secrets ...string) Scrubber {
	var pairs []string
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, Mask)
		}
	}
	return Scrubber{r: strings.NewReplacer(pairs...)}
}

// String returns s with every secret masked.
func (s Scrubber) String(v string) string {
	if s.r == nil {
		return v
	}
	return s.r.Replace(v)
}

// secretDirectives hold the password in redis.conf.
var secretDirectives = map[string]bool{"requirepass": true, "masterauth": true}

// redactConf masks the values of password directives, so that a diff of a
// conf file shows neither the new password nor an old one.
func redactConf(content []byte) []byte {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(content)))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) > 0 && secretDirectives[strings.ToLower(f[0])] {
			line = f[0] + " " + Mask
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// parseConf reads directive → value (the rest of the line, unquoted when
// it is one quoted word) from a redis.conf. Later lines win, as in Redis.
func parseConf(content []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(content), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		out[strings.ToLower(k)] = unquoteConf(strings.TrimSpace(v))
	}
	return out
}

// unquoteConf undoes quoteConf for a single double-quoted word; anything
// else is returned as written.
func unquoteConf(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	var b strings.Builder
	in := v[1 : len(v)-1]
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c != '\\' || i+1 == len(in) {
			b.WriteByte(c)
			continue
		}
		i++
		switch in[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'x':
			if i+2 < len(in) {
				var x byte
				for _, h := range in[i+1 : i+3] {
					x <<= 4
					switch {
					case h >= '0' && h <= '9':
						x |= byte(h - '0')
					case h >= 'a' && h <= 'f':
						x |= byte(h-'a') + 10
					case h >= 'A' && h <= 'F':
						x |= byte(h-'A') + 10
					}
				}
				b.WriteByte(x)
				i += 2
			}
		default:
			b.WriteByte(in[i])
		}
	}
	return b.String()
}

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
