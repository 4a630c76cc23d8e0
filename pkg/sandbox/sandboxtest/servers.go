package sandboxtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ServersEnv names the variable that lists extra server builds for tests:
// "name=/path/server,name=/path/server", e.g.
// "valkey=/opt/valkey/src/valkey-server,redis84=/opt/redis/src/redis-server".
const ServersEnv = "SLOTSHIFT_TEST_SERVERS"

// ServerBin returns the executable ServersEnv lists under name. It skips
// the test, saying which binary is missing and why, when the variable does
// not list it or the file is not an executable.
func ServerBin(t testing.TB, name, what string) string {
	t.Helper()
	for _, kv := range strings.Split(os.Getenv(ServersEnv), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k != name {
			continue
		}
		st, err := os.Stat(v)
		if err != nil {
			t.Skipf("skipping: %s (%s) listed in %s is not usable: %v", name, what, ServersEnv, err)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			t.Skipf("skipping: %s (%s) listed in %s is not an executable: %s", name, what, ServersEnv, v)
		}
		return v
	}
	t.Skipf("skipping: no %s binary (%s): set %s=%s=/path/to/server (CI runs Redis 7.0 only)", name, what, ServersEnv, name)
	return ""
}

// CLIBin is the command-line client that goes with the server executable
// bin: valkey-cli beside valkey-server, redis-cli beside redis-server (in
// bin's directory when bin is a path, else from PATH).
func CLIBin(bin string) string {
	cli := "redis-cli"
	if strings.Contains(filepath.Base(bin), "valkey") {
		cli = "valkey-cli"
	}
	if strings.ContainsRune(bin, '/') {
		p := filepath.Join(filepath.Dir(bin), cli)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return cli
}
