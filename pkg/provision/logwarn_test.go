package provision

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// Lines as Redis 7.0.15 logs them ("pid:role date time level message").
const (
	logStart1 = `4805:C 03 Dec 2026 09:00:00.000 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo
4805:C 03 Dec 2026 09:00:00.000 # Redis version=7.0.15, bits=64, commit=00000000, modified=0, pid=4805, just started
4805:C 03 Dec 2026 09:00:00.000 # Configuration loaded
4805:M 03 Dec 2026 09:00:00.001 * monotonic clock: POSIX clock_gettime
4805:M 03 Dec 2026 09:00:00.001 * Running mode=cluster, port=7000.
4805:M 03 Dec 2026 09:00:00.001 # Server initialized
`
	logReady    = "4805:M 03 Dec 2026 09:00:00.002 * Ready to accept connections\n"
	logEvents   = "4805:M 03 Dec 2026 09:00:01.000 # configEpoch set to 1 via CLUSTER SET-CONFIG-EPOCH\n4805:M 03 Dec 2026 09:00:03.000 # Cluster state changed: ok\n"
	logShutdown = "4805:M 03 Dec 2026 09:10:00.000 # User requested shutdown...\n4805:M 03 Dec 2026 09:10:00.000 * Removing the pid file.\n4805:M 03 Dec 2026 09:10:00.000 # Redis is now ready to exit, bye bye...\n"
	logStart2   = `5001:C 03 Dec 2026 09:10:01.000 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo
5001:C 03 Dec 2026 09:10:01.000 # Redis version=7.0.15, bits=64, commit=00000000, modified=0, pid=5001, just started
5001:C 03 Dec 2026 09:10:01.000 # Configuration loaded
5001:M 03 Dec 2026 09:10:01.001 # Server initialized
`

	warnOvercommit = "WARNING Memory overcommit must be enabled! Without it, a background save or replication may fail under low memory condition. Being disabled, it can can also cause failures without low memory condition, see https://github.com/jemalloc/jemalloc/issues/1328. To fix this issue add 'vm.overcommit_memory = 1' to /etc/sysctl.conf and then reboot or run the command 'sysctl vm.overcommit_memory=1' for this to take effect."
	warnBacklog    = "WARNING: The TCP backlog setting of 511 cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of 128."
	warnTHP        = "WARNING you have Transparent Huge Pages (THP) support enabled in your kernel. This will create latency and memory usage issues with Redis. To fix this issue run the command 'echo madvise > /sys/kernel/mm/transparent_hugepage/enabled' as root, and add it to your /etc/rc.local in order to retain the setting after a reboot. Redis must be restarted after THP is disabled (set to 'madvise' or 'never')."
	warnNoConfig   = "Warning: no config file specified, using the default config. In order to specify a config file use redis-server /path/to/redis.conf"
)

func logLine(level, msg string) string {
	return "4805:M 03 Dec 2026 09:00:00.001 " + level + " " + msg + "\n"
}

func TestLogWarnings(t *testing.T) {
	// A real log: two starts of a cluster node under Redis 7.0.15, the
	// second with tcp-backlog above somaxconn, then two cluster events.
	captured, err := os.ReadFile("testdata/redis-7.0.15.log")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		log  string
		want []string // messages, in order
	}{
		{"captured log: the latest start's warnings only", string(captured),
			[]string{"WARNING: The TCP backlog setting of 8192 cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of 4096.", warnOvercommit}},
		{"start-up banner at warning level is no warning", logStart1 + logReady, nil},
		{"cluster events and shutdown at warning level are no warning", logStart1 + logReady + logEvents + logShutdown, nil},
		{"real warnings", logStart1 + logLine("#", warnBacklog) + logLine("#", warnOvercommit) + logLine("#", warnTHP) + logReady,
			[]string{warnBacklog, warnOvercommit, warnTHP}},
		{"the same warning twice in one start is one warning",
			logStart1 + logLine("#", warnOvercommit) + logReady + "4805:M 03 Dec 2026 09:05:00.000 # " + warnOvercommit + "\n",
			[]string{warnOvercommit}},
		{"an earlier start's warnings are left out",
			logStart1 + logLine("#", warnTHP) + logReady + logShutdown + logStart2 + logLine("#", warnOvercommit),
			[]string{warnOvercommit}},
		{"a warning in any case and at any level", logStart1 + logLine("#", warnNoConfig) + logLine("*", "WARNING: example at notice level"),
			[]string{warnNoConfig, "WARNING: example at notice level"}},
		{"a tail cut before the start still has its warnings", logLine("#", "Server initialized") + logLine("#", warnOvercommit) + logReady,
			[]string{warnOvercommit}},
		{"a line in another form counts when it starts with WARNING",
			"WARNING: unframed line\nsome other text mentioning WARNING\n", []string{"WARNING: unframed line"}},
		{"empty", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := LogWarnings([]byte(c.log))
			var msgs []string
			for _, l := range got {
				msgs = append(msgs, logMessage(l))
				if !strings.Contains(c.log, l) {
					t.Errorf("reported line %q is not a line of the log", l)
				}
			}
			if !slices.Equal(msgs, c.want) {
				t.Errorf("LogWarnings =\n%q\nwant messages\n%q", msgs, c.want)
			}
		})
	}
}

func TestLogMessage(t *testing.T) {
	for line, want := range map[string]string{
		"11772:M 03 Dec 2026 09:32:15.402 # Server initialized":                  "Server initialized",
		"11772:C 03 Dec 2026 09:32:15.401 # Configuration loaded":                "Configuration loaded",
		"11772:M 03 Dec 2026 09:32:15.403 * Ready to accept connections":         "Ready to accept connections",
		"11772:M 03 Dec 2026 09:32:15.403 - Accepted 127.0.0.1:5000 with spaces": "Accepted 127.0.0.1:5000 with spaces",
		"not a log line at all": "not a log line at all",
	} {
		if got := logMessage(line); got != want {
			t.Errorf("logMessage(%q) = %q, want %q", line, got, want)
		}
	}
}
