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
		if len(f) > 2 && strings.EqualFold(f[0], "user") {
			line = f[0] + " " + f[1] + " " + Mask // the password's hash and the rule
		}
		if k, _, ok := strings.Cut(line, "="); ok && k == passwordEnv {
			line = k + "=" + Mask
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}
