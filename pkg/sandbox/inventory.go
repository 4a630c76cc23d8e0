package sandbox

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/slotshift/slotshift/pkg/atomicfile"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/tlsconf"
)

// DefaultDir is the state directory Up, Down and Status use by default.
const DefaultDir = ".sandbox"

// stateFile is the file, inside the state directory, that records what Up
// started.
const stateFile = "state.json"

// Options configure Up. Zero values take the documented defaults.
type Options struct {
	// Dir is the state directory; each node gets Dir/<server>-<port>/.
	// Default ".sandbox".
	Dir string
	// Password sets requirepass and masterauth on every node.
	Password string
	// Bin is the server executable, a path or a name in PATH
	// (redis-server, valkey-server). Default "redis-server".
	Bin string
	// Persistence turns RDB snapshots and the AOF on (see NodeConfig).
	Persistence bool
	// Log receives progress; nil discards it.
	Log *slog.Logger
	// TLS, when set, makes every node TLS-only with this material (written
	// to Dir/tls); TLSClient is what Up's probes dial with.
	TLS       *tlsconf.Material
	TLSClient *tls.Config
}

// State is what Up started, as recorded in <Dir>/state.json.
type State struct {
	// Dir is the state directory (absolute).
	Dir   string      `json:"dir"`
	Nodes []NodeState `json:"nodes"`
	// AlreadyRunning is true when Up found every node running and started
	// nothing.
	AlreadyRunning bool `json:"-"`
}

// NodeState is one process Up started.
type NodeState struct {
	Server string `json:"server"`
	Addr   string `json:"addr"`
	Port   int    `json:"port"`
	// Role is the role the inventory declares; Status reports the live one.
	Role inventory.Role `json:"role"`
	Pid  int            `json:"pid"`
	Dir  string         `json:"dir"`
}

// loopbackHost maps an inventory address to the address the sandbox node
// binds, or reports that it is not loopback.
func loopbackHost(addr string) (string, bool) {
	if strings.EqualFold(addr, "localhost") {
		return "127.0.0.1", true
	}
	ip := net.ParseIP(addr)
	if ip == nil || !ip.IsLoopback() {
		return "", false
	}
	return ip.String(), true
}

func where(source string, line int) string {
	if source == "" {
		source = "inventory"
	}
	if line > 0 {
		return fmt.Sprintf("%s:%d", source, line)
	}
	return source
}

func readState(dir string) (*State, error) {
	path := filepath.Join(dir, stateFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("sandbox state %s: %w", path, err)
	}
	st.Dir = dir
	return &st, nil
}

// writeState writes state.json atomically so that a crash never leaves a
// half-written record of running processes.
func writeState(st *State) error {
	return atomicfile.WriteJSON(filepath.Join(st.Dir, stateFile), st, 0o600)
}

// pidIsNode reports whether pid is a live (not zombie) redis-server (or
// valkey-server, which shows the same) serving
// port. It reads /proc/<pid>/cmdline, where redis-server shows
// "redis-server 127.0.0.1:<port> [cluster]" once started (or its argv,
// "redis-server <dir>/redis.conf", a moment before), so a pid recycled by
// another program is never mistaken for the node.
func pidIsNode(pid, port int) bool {
	if pid <= 0 {
		return false
	}
	if !pidRunning(pid) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	cmd := strings.ReplaceAll(string(b), "\x00", " ")
	if !strings.Contains(cmd, "redis-server") && !strings.Contains(cmd, "valkey-server") {
		return false
	}
	p := strconv.Itoa(port)
	return strings.Contains(cmd, ":"+p+" ") || strings.HasSuffix(strings.TrimSpace(cmd), ":"+p) ||
		strings.Contains(cmd, "-"+p+"/redis.conf")
}

// pidRunning reports whether pid exists and is not a zombie.
func pidRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may itself
	// contain spaces or parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}
