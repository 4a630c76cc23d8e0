package cli

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestSelectMode(t *testing.T) {
	cases := []struct {
		name     string
		format   string
		terminal bool
		env      map[string]string
		want     outputMode
	}{
		{"terminal", "text", true, nil, modeHuman},
		{"terminal, default format", "", true, nil, modeHuman},
		{"pipe", "text", false, nil, modeCI},
		{"terminal in CI", "text", true, map[string]string{"CI": "true"}, modeCI},
		{"terminal in CI=1", "text", true, map[string]string{"CI": "1"}, modeCI},
		{"terminal in GitHub Actions", "text", true, map[string]string{"GITHUB_ACTIONS": "true"}, modeCI},
		{"CI=false on a terminal", "text", true, map[string]string{"CI": "false"}, modeHuman},
		{"json on a terminal", "json", true, nil, modeJSON},
		{"json in CI", "JSON", false, map[string]string{"CI": "true"}, modeJSON},
	}
	for _, c := range cases {
		got, err := selectMode(c.format, c.terminal, func(k string) string { return c.env[k] })
		if err != nil || got != c.want {
			t.Errorf("%s: selectMode = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if _, err := selectMode("yaml", true, func(string) string { return "" }); err == nil {
		t.Error("--log-format yaml accepted")
	}
}

// TestHumanModeLevels: on a terminal, info records (which repeat the human
// lines) are dropped, warnings are kept, and --log-level debug shows all.
func TestHumanModeLevels(t *testing.T) {
	for _, c := range []struct {
		level            string
		info, warn, dbug bool
	}{
		{"info", false, true, false},
		{"warn", false, true, false},
		{"error", false, false, false},
		{"debug", true, true, true},
	} {
		var b bytes.Buffer
		out, err := newOutput(&b, modeHuman, c.level)
		if err != nil {
			t.Fatal(err)
		}
		if out.status != &b {
			t.Errorf("level %s: human lines not sent to stderr", c.level)
		}
		out.log.Debug("d-record")
		out.log.Info("i-record")
		out.log.Warn("w-record")
		got := b.String()
		if strings.Contains(got, "i-record") != c.info || strings.Contains(got, "w-record") != c.warn || strings.Contains(got, "d-record") != c.dbug {
			t.Errorf("level %s: printed\n%s", c.level, got)
		}
	}
	for _, m := range []outputMode{modeCI, modeJSON} {
		var b bytes.Buffer
		out, err := newOutput(&b, m, "info")
		if err != nil {
			t.Fatal(err)
		}
		out.log.Info("i-record")
		if !strings.Contains(b.String(), "i-record") || !out.log.Enabled(t.Context(), slog.LevelInfo) {
			t.Errorf("%v: info record dropped: %q", m, b.String())
		}
	}
}
