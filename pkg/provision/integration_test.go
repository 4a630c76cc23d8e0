package provision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/provision"
	"github.com/slotshift/slotshift/pkg/provision/sshdtest"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// testPassword has a space, a quote and a backslash so that the test also
// proves the conf quoting round-trips through a real redis-server.
const testPassword = `it-pass "word\ 0123456789-slotshift`

type env struct {
	sshd  *sshdtest.Server
	inv   *inventory.Inventory
	root  string
	sys   provision.System
	ports []int
	logs  *sandboxtest.Output
}

// redisPort returns a free port whose cluster bus port is free too.
func redisPort(t *testing.T, taken map[int]bool) int {
	t.Helper()
	for range 200 {
		p := sshdtest.FreePort(t)
		if p > inventory.MaxPort || taken[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+inventory.BusPortOffset))
		if err != nil {
			continue
		}
		_ = l.Close()
		taken[p] = true
		return p
	}
	t.Fatal("no free port pair")
	return 0
}

// newEnv starts sshd (with sshdOpts, when given) and builds an inventory
// of one server with two nodes that provision puts under a temporary root.
func newEnv(t *testing.T, sshdOpts ...sshdtest.Options) *env {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not in PATH")
	}
	var so sshdtest.Options
	if len(sshdOpts) > 0 {
		so = sshdOpts[0]
	}
	sshd := sshdtest.StartWith(t, so)
	root := t.TempDir()
	taken := map[int]bool{}
	ports := []int{redisPort(t, taken), redisPort(t, taken)}
	f := false
	inv := &inventory.Inventory{
		Source:  "inventory.yml",
		Version: 1,
		Cluster: inventory.Cluster{Name: "it", PasswordEnv: "SLOTSHIFT_PASSWORD", NodeTimeoutMS: 1000},
		Servers: []inventory.Server{{
			Name: "server1", Address: "127.0.0.1", Line: 7,
			SSH: inventory.SSH{User: "root", Port: sshd.Port},
			Nodes: []inventory.Node{
				{Port: ports[0], Role: inventory.RoleMaster},
				{Port: ports[1], Role: inventory.RoleReplica},
			},
		}},
		Provision: inventory.Provision{
			Service: provision.ServiceDaemon, Install: provision.InstallSkip, KernelTuning: &f,
			User: "root", Group: "root",
			Paths: inventory.Paths{
				Config: filepath.Join(root, "etc/redis/cluster"), Data: filepath.Join(root, "var/lib/redis"),
				Log: filepath.Join(root, "var/log/redis"), Run: filepath.Join(root, "run/redis"),
			},
		},
	}
	e := &env{sshd: sshd, inv: inv, root: root, ports: ports, logs: &sandboxtest.Output{},
		sys: provision.System{
			UnitDir: filepath.Join(root, "etc/systemd/system"), SysctlDir: filepath.Join(root, "etc/sysctl.d"),
			LogrotateDir: filepath.Join(root, "etc/logrotate.d"),
		}}
	t.Cleanup(func() { e.stopRedis(t) })
	return e
}

// stopRedis kills the redis-server processes this test started, found by
// their pid files and by asking each port for its pid.
func (e *env) stopRedis(t *testing.T) {
	pids := map[int]bool{}
	for _, p := range e.ports {
		if b, err := os.ReadFile(filepath.Join(e.inv.Provision.Paths.Run, "redis_"+strconv.Itoa(p)+".pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				pids[pid] = true
			}
		}
		if pid := e.pid(p); pid > 0 {
			pids[pid] = true
		}
	}
	for pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for pid := range pids {
		for time.Now().Before(deadline) {
			if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (e *env) client(port int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: testPassword,
		MaxRetries: -1, DialTimeout: time.Second, DisableIdentity: true, Protocol: 2})
}

// pid returns the process id of the Redis on port, or 0.
func (e *env) pid(port int) int {
	c := e.client(port)
	defer c.Close()
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "process_id:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

func (e *env) opts(mut ...func(*provision.Options)) provision.Options {
	o := provision.Options{
		Password: testPassword, Key: e.sshd.ClientKey, KnownHosts: e.sshd.KnownHosts,
		Log:    slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		System: e.sys, StartTimeout: 15 * time.Second, CommandTimeout: 30 * time.Second,
	}
	for _, m := range mut {
		m(&o)
	}
	return o
}

func (e *env) run(t *testing.T, o provision.Options) (*report.ProvisionSection, []report.Check) {
	t.Helper()
	sec, checks, err := provision.Run(context.Background(), e.inv, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(sec.Servers) != 1 {
		t.Fatalf("servers in report: %d", len(sec.Servers))
	}
	// The password must appear nowhere in what a run reports or logs.
	b, _ := json.Marshal(struct {
		S *report.ProvisionSection
		C []report.Check
	}{sec, checks})
	if bytes.Contains(b, []byte(testPassword)) {
		t.Fatalf("password in report: %s", b)
	}
	if strings.Contains(e.logs.String(), testPassword) {
		t.Fatal("password in log output")
	}
	return sec, checks
}

func noFailures(t *testing.T, checks []report.Check) {
	t.Helper()
	for _, c := range checks {
		if c.Status == report.Fail || c.Status == report.Error {
			t.Errorf("check %s %s on %s: %s", c.ID, c.Status, c.Node, c.Message)
		}
	}
}

func find(checks []report.Check, id string) []report.Check {
	var out []report.Check
	for _, c := range checks {
		if c.ID == id {
			out = append(out, c)
		}
	}
	return out
}

// argvLeaks returns the pids whose command line holds the password.
func argvLeaks(t *testing.T) []string { return argvHolding(t, []string{testPassword}) }

// argvHolding returns the pids (with their command lines) whose command
// line holds any of secrets.
func argvHolding(t *testing.T, secrets []string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var leaks []string
	for _, d := range ents {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) {
				leaks = append(leaks, d.Name()+": "+string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
				break
			}
		}
	}
	return leaks
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestProvisionOverSSH(t *testing.T) {
	e := newEnv(t)
	paths := e.inv.Provision.Paths
	conf0 := filepath.Join(paths.Config, strconv.Itoa(e.ports[0]), "redis_"+strconv.Itoa(e.ports[0])+".conf")

	t.Run("dry run on a fresh host changes nothing", func(t *testing.T) {
		start := time.Now()
		sec, checks := e.run(t, e.opts(func(o *provision.Options) { o.DryRun = true }))
		t.Logf("dry run: %s", time.Since(start))
		noFailures(t, checks)
		if !sec.DryRun {
			t.Error("section not marked dry_run")
		}
		files := sec.Servers[0].Files
		if len(files) != 3 { // two confs + logrotate (daemon mode, no kernel tuning)
			t.Fatalf("files: %+v", files)
		}
		for _, f := range files {
			if !f.Changed || !strings.Contains(f.Diff, "+++ b"+f.Path) {
				t.Errorf("%s: want a creation diff, got changed=%v diff=%q", f.Path, f.Changed, f.Diff)
			}
		}
		if !strings.Contains(files[0].Diff, "+requirepass "+provision.Mask) {
			t.Errorf("conf diff should show the masked password line:\n%s", files[0].Diff)
		}
		cmds := strings.Join(sec.Servers[0].Commands, "\n")
		if !strings.Contains(cmds, "--daemonize yes") || !strings.Contains(cmds, "install -d") {
			t.Errorf("dry run should list the commands it would run:\n%s", cmds)
		}
		for _, p := range []string{paths.Config, paths.Data, paths.Log, e.sys.LogrotateDir} {
			if exists(p) {
				t.Errorf("dry run created %s", p)
			}
		}
		if e.pid(e.ports[0]) != 0 {
			t.Error("dry run started redis")
		}
	})

	var pids []int
	t.Run("first run provisions and starts the nodes", func(t *testing.T) {
		start := time.Now()
		sec, checks := e.run(t, e.opts())
		t.Logf("first run: %s", time.Since(start))
		noFailures(t, checks)
		want, err := provision.RenderWith(e.inv, e.inv.Servers[0], testPassword,
			provision.SettingsFor(e.inv, e.sys))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range want {
			st, err := os.Stat(f.Path)
			if err != nil {
				t.Fatalf("%s not written: %v", f.Path, err)
			}
			if st.Mode().Perm() != f.Mode {
				t.Errorf("%s mode %o, want %o", f.Path, st.Mode().Perm(), f.Mode)
			}
			if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 0 || sys.Gid != 0 {
				t.Errorf("%s owner %d:%d, want root:root", f.Path, sys.Uid, sys.Gid)
			}
			got, _ := os.ReadFile(f.Path)
			if !bytes.Equal(got, f.Content) {
				t.Errorf("%s content differs from the render", f.Path)
			}
		}
		if st, _ := os.Stat(conf0); st == nil || st.Mode().Perm() != 0o640 {
			t.Errorf("conf must be 0640: %v", st)
		}
		for _, f := range sec.Servers[0].Files {
			if !f.Changed {
				t.Errorf("%s reported unchanged on the first run", f.Path)
			}
		}
		for _, p := range e.ports {
			pid := e.pid(p)
			if pid == 0 {
				t.Fatalf("redis on %d does not answer PING/INFO with the password", p)
			}
			pids = append(pids, pid)
			// Without the password it must refuse.
			c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(p), MaxRetries: -1, Protocol: 2, DisableIdentity: true})
			if err := c.Ping(context.Background()).Err(); err == nil {
				t.Errorf("redis on %d answers without a password", p)
			}
			c.Close()
		}
		if n := len(find(checks, "provision.ping")); n != 2 {
			t.Errorf("ping checks: %d, want 2", n)
		}
		for _, c := range find(checks, "provision.ping") {
			if c.Node != "127.0.0.1:"+strconv.Itoa(e.ports[0]) && c.Node != "127.0.0.1:"+strconv.Itoa(e.ports[1]) {
				t.Errorf("ping check node %q", c.Node)
			}
		}
		if leaks := argvLeaks(t); len(leaks) > 0 {
			t.Fatalf("password in process argv while redis runs: %v", leaks)
		}
		checkLogWarnings(t, find(checks, "provision.log_warning"), e.ports)
	})
	if len(pids) != 2 {
		t.FailNow()
	}

	t.Run("second run changes and restarts nothing", func(t *testing.T) {
		start := time.Now()
		sec, checks := e.run(t, e.opts())
		t.Logf("second run: %s", time.Since(start))
		noFailures(t, checks)
		for _, f := range sec.Servers[0].Files {
			if f.Changed || f.Diff != "" {
				t.Errorf("%s changed on the second run: %q", f.Path, f.Diff)
			}
		}
		if len(sec.Servers[0].Commands) != 0 {
			t.Errorf("second run ran commands: %q", sec.Servers[0].Commands)
		}
		for i, p := range e.ports {
			if got := e.pid(p); got != pids[i] {
				t.Errorf("node %d restarted: pid %d → %d", p, pids[i], got)
			}
		}
	})

	t.Run("live setting applied with CONFIG SET, no restart", func(t *testing.T) {
		e.inv.Cluster.RedisConfig = map[string]string{"maxmemory-policy": "allkeys-lru"}
		sec, checks := e.run(t, e.opts())
		noFailures(t, checks)
		if len(sec.Servers[0].Restarts) != 0 {
			t.Errorf("restart reported for a live setting: %v", sec.Servers[0].Restarts)
		}
		c := e.client(e.ports[0])
		defer c.Close()
		got, err := c.ConfigGet(context.Background(), "maxmemory-policy").Result()
		if err != nil || got["maxmemory-policy"] != "allkeys-lru" {
			t.Errorf("maxmemory-policy = %v, %v", got, err)
		}
		for i, p := range e.ports {
			if e.pid(p) != pids[i] {
				t.Errorf("node %d restarted for a live setting", p)
			}
		}
	})

	t.Run("dry run of a change shows the diff and changes nothing", func(t *testing.T) {
		e.inv.Cluster.RedisConfig = map[string]string{"maxmemory-policy": "allkeys-lru", "loglevel": "warning"}
		before, _ := os.ReadFile(conf0)
		sec, checks := e.run(t, e.opts(func(o *provision.Options) { o.DryRun = true }))
		noFailures(t, checks)
		after, _ := os.ReadFile(conf0)
		if !bytes.Equal(before, after) {
			t.Error("dry run rewrote the conf")
		}
		var diff string
		for _, f := range sec.Servers[0].Files {
			if f.Path == conf0 {
				diff = f.Diff
			}
		}
		if !strings.Contains(diff, "-loglevel notice") || !strings.Contains(diff, "+loglevel warning") {
			t.Errorf("diff:\n%s", diff)
		}
		c := e.client(e.ports[0])
		defer c.Close()
		if got, _ := c.ConfigGet(context.Background(), "loglevel").Result(); got["loglevel"] != "notice" {
			t.Errorf("dry run changed loglevel live: %v", got)
		}
		e.inv.Cluster.RedisConfig = map[string]string{"maxmemory-policy": "allkeys-lru"}
	})

	t.Run("restart-only setting is reported, then applied with allow-restart", func(t *testing.T) {
		e.inv.Cluster.RedisConfig = map[string]string{"maxmemory-policy": "allkeys-lru", "databases": "4"}
		sec, checks := e.run(t, e.opts())
		noFailures(t, checks)
		if len(sec.Servers[0].Restarts) != 2 || len(find(checks, "provision.restart_needed")) != 2 {
			t.Errorf("want restart needed on both nodes: %v", sec.Servers[0].Restarts)
		}
		for i, p := range e.ports {
			if e.pid(p) != pids[i] {
				t.Errorf("node %d restarted without --allow-restart", p)
			}
		}
		// The file is already current; the node still runs the old value.
		// With AllowRestart the next run restarts it.
		e.inv.Cluster.RedisConfig["databases"] = "8"
		_, checks = e.run(t, e.opts(func(o *provision.Options) { o.AllowRestart = true }))
		noFailures(t, checks)
		c := e.client(e.ports[0])
		defer c.Close()
		if got, _ := c.ConfigGet(context.Background(), "databases").Result(); got["databases"] != "8" {
			t.Errorf("databases after allowed restart: %v", got)
		}
		if e.pid(e.ports[0]) == pids[0] {
			t.Error("node not restarted with --allow-restart")
		}
	})

	t.Run("no password in argv after the runs", func(t *testing.T) {
		if leaks := argvLeaks(t); len(leaks) > 0 {
			t.Fatalf("password in process argv: %v", leaks)
		}
	})
}

func TestSSHRefusals(t *testing.T) {
	e := newEnv(t)
	paths := e.inv.Provision.Paths
	nothingChanged := func(t *testing.T) {
		t.Helper()
		for _, p := range []string{paths.Config, paths.Data, paths.Log, e.sys.LogrotateDir} {
			if exists(p) {
				t.Errorf("%s created", p)
			}
		}
	}
	otherHost, _ := sshdtest.NewKey(t)

	t.Run("host key mismatch", func(t *testing.T) {
		sec, checks := e.run(t, e.opts(func(o *provision.Options) {
			o.KnownHosts = sshdtest.KnownHostsLine(e.sshd.Addr, otherHost)
			o.TrustOnFirstUse = true // never overrides a mismatch
		}))
		c := find(checks, "provision.connect")
		if len(c) != 1 || c[0].Status != report.Fail ||
			!strings.Contains(c[0].Message, "server1") || !strings.Contains(c[0].Message, e.sshd.Fingerprint) ||
			!strings.Contains(c[0].Message, "mismatch") {
			t.Fatalf("connect check: %+v", c)
		}
		if len(sec.Servers[0].Files) != 0 {
			t.Error("files compared after a refused host key")
		}
		nothingChanged(t)
	})

	t.Run("unknown host", func(t *testing.T) {
		_, checks := e.run(t, e.opts(func(o *provision.Options) {
			o.KnownHosts = sshdtest.KnownHostsLine("127.0.0.1:1", otherHost)
		}))
		c := find(checks, "provision.connect")
		if len(c) != 1 || c[0].Status != report.Fail || !strings.Contains(c[0].Message, "not in known_hosts") ||
			!strings.Contains(c[0].Message, e.sshd.Fingerprint) {
			t.Fatalf("connect check: %+v", c)
		}
		nothingChanged(t)
	})

	t.Run("trust on first use reports the fingerprint", func(t *testing.T) {
		_, checks := e.run(t, e.opts(func(o *provision.Options) {
			o.KnownHosts = ""
			o.TrustOnFirstUse = true
			o.DryRun = true
		}))
		noFailures(t, checks)
		c := find(checks, "provision.host_key")
		if len(c) != 1 || c[0].Status != report.Warn || c[0].Observed != e.sshd.Fingerprint {
			t.Fatalf("host_key check: %+v", c)
		}
		nothingChanged(t)
	})

	t.Run("wrong client key", func(t *testing.T) {
		_, wrong := sshdtest.NewKey(t)
		_, checks := e.run(t, e.opts(func(o *provision.Options) { o.Key = string(wrong) }))
		c := find(checks, "provision.connect")
		if len(c) != 1 || c[0].Status != report.Error || !strings.Contains(c[0].Message, "unable to authenticate") {
			t.Fatalf("connect check: %+v", c)
		}
		if strings.Contains(c[0].Message, "PRIVATE KEY") {
			t.Error("key material in message")
		}
		nothingChanged(t)
	})
}

// checkLogWarnings checks the warnings read from the nodes' logs after
// their first start: real warnings only (Redis 7 logs its start-up banner
// at warning level too), each once per node, and the overcommit warning
// on every node when this host does not overcommit.
func checkLogWarnings(t *testing.T, warnings []report.Check, ports []int) {
	t.Helper()
	seen := map[string]bool{}
	overcommit := map[string]int{}
	for _, c := range warnings {
		// "pid:role dd Mon yyyy hh:mm:ss.mmm level message"
		f := strings.SplitN(c.Message, " ", 7)
		if len(f) != 7 {
			t.Errorf("log warning on %s is not a Redis log line: %q", c.Node, c.Message)
			continue
		}
		msg := f[6]
		if !strings.HasPrefix(strings.ToUpper(msg), "WARNING") {
			t.Errorf("log warning on %s is no warning: %q", c.Node, c.Message)
		}
		if seen[c.Node+" "+msg] {
			t.Errorf("log warning on %s reported twice: %q", c.Node, msg)
		}
		seen[c.Node+" "+msg] = true
		if strings.Contains(msg, "overcommit") {
			overcommit[c.Node]++
		}
	}
	if b, err := os.ReadFile("/proc/sys/vm/overcommit_memory"); err == nil && strings.TrimSpace(string(b)) == "0" {
		for _, p := range ports {
			if node := "127.0.0.1:" + strconv.Itoa(p); overcommit[node] != 1 {
				t.Errorf("overcommit warnings on %s: %d, want 1 (vm.overcommit_memory is 0)", node, overcommit[node])
			}
		}
	}
}
