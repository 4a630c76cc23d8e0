package provision

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/inventory"
)

// sh runs cmd with the local sh, as Runner.Run does on a server.
func sh(t *testing.T, cmd string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("sh -c %q: %v\n%s", cmd, err, out)
	}
	return string(out)
}

// awkward is a directory whose name needs quoting.
func awkward(t *testing.T) string {
	d := filepath.Join(t.TempDir(), "it's a $dir")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestShellCommandsParse(t *testing.T) {
	d := awkward(t)
	l := LayoutOf(Settings{Paths: inventory.Paths{Config: d, Data: d, Log: d, Run: d}, Service: ServiceDaemon}, 7000)
	cmds := map[string]string{
		"preflight": preflightScript(d), "apt": aptInstallCmd, "disable default": disableDefaultRedisCmd,
		"kernel": kernelTuneScript, "stat": statCmd([]string{d, d + "/x"}),
		"mkdir":    mkdirCmd([]Dir{{Path: d, Mode: 0o750, Owner: "redis", Group: "redis"}}),
		"firewall": firewallCmd([]int{7000, 7001}), "reload": daemonReloadCmd,
		"enable": enableCmd(l.Unit), "enable now": enableNowCmd(THPUnitName),
		"start systemd": startCmd(ServiceSystemd, "redis", "", l), "start root": startCmd(ServiceDaemon, "root", "", l),
		"start user": startCmd(ServiceDaemon, "o'neil", "", l), "start valkey": startCmd(ServiceDaemon, "o'neil", "/usr/bin/valkey-server", l), "restart": restartUnitCmd(l), "term": termCmd(l),
		"log tails": logTailsCmd([]NodeLayout{l, l}),
	}
	for name, cmd := range cmds {
		if out, err := exec.Command("sh", "-n", "-c", cmd).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s\n%s", name, err, cmd, out)
		}
	}
}

func TestStartCmd(t *testing.T) {
	l := LayoutOf(Settings{Paths: inventory.Paths{Config: "/etc/redis/cluster", Run: "/var/run/redis"}}, 7000)
	for _, c := range []struct{ service, user, bin, want string }{
		{ServiceSystemd, "redis", "", "systemctl start redis_7000.service"},
		{ServiceDaemon, "root", "", "cd / && redis-server '/etc/redis/cluster/7000/redis_7000.conf' --daemonize yes"},
		{ServiceDaemon, "redis", "", "cd / && runuser -u 'redis' -- redis-server '/etc/redis/cluster/7000/redis_7000.conf' --daemonize yes"},
		{ServiceDaemon, "redis", "/usr/bin/valkey-server", "cd / && runuser -u 'redis' -- '/usr/bin/valkey-server' '/etc/redis/cluster/7000/redis_7000.conf' --daemonize yes"},
	} {
		if got := startCmd(c.service, c.user, c.bin, l); got != c.want {
			t.Errorf("startCmd(%s, %s) = %q, want %q", c.service, c.user, got, c.want)
		}
	}
}

func TestFirewallCmdOpensBusPorts(t *testing.T) {
	got := firewallCmd([]int{7000, 7101})
	for _, p := range []int{7000, 7000 + inventory.BusPortOffset, 7101, 7101 + inventory.BusPortOffset} {
		if !strings.Contains(got, "ufw allow "+strconv.Itoa(p)+"/tcp") {
			t.Errorf("firewallCmd does not open %d: %s", p, got)
		}
	}
	if n := strings.Count(got, "ufw allow"); n != 4 {
		t.Errorf("firewallCmd has %d rules, want 4: %s", n, got)
	}
}

func TestStatAndMkdirCmd(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	g, err := user.LookupGroupId(me.Gid)
	if err != nil {
		t.Skip(err)
	}
	d := awkward(t)
	dirs := []Dir{
		{Path: filepath.Join(d, "a b"), Mode: 0o750, Owner: me.Username, Group: g.Name},
		{Path: filepath.Join(d, "a b", "c'd"), Mode: 0o711, Owner: me.Username, Group: g.Name},
	}
	sh(t, mkdirCmd(dirs))
	missing := filepath.Join(d, "missing")
	out := sh(t, statCmd([]string{dirs[0].Path, missing, dirs[1].Path}))
	want := "750 " + me.Username + " " + g.Name + " " + dirs[0].Path + "\n" +
		"711 " + me.Username + " " + g.Name + " " + dirs[1].Path + "\n"
	if out != want {
		t.Errorf("stat output:\n%q\nwant\n%q", out, want)
	}
}

func TestLogTailsCmd(t *testing.T) {
	d := awkward(t)
	s := Settings{Paths: inventory.Paths{Log: d}}
	a, b := LayoutOf(s, 7000), LayoutOf(s, 7001)
	var long strings.Builder
	for i := range logTailLines + 50 {
		long.WriteString("line " + strconv.Itoa(i) + "\n")
	}
	if err := os.WriteFile(a.LogFile, []byte(long.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.LogFile, []byte("only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	chunks := strings.Split(sh(t, logTailsCmd([]NodeLayout{a, b})), logSep)
	if len(chunks) != 3 || chunks[0] != "" {
		t.Fatalf("want two framed tails, got %q", chunks)
	}
	if !strings.HasPrefix(chunks[1], "7000\nline 50\n") || strings.Count(chunks[1], "\n") != logTailLines+1 {
		t.Errorf("tail of 7000 wrong: starts %q, %d lines", chunks[1][:20], strings.Count(chunks[1], "\n"))
	}
	if chunks[2] != "7001\nonly\n" {
		t.Errorf("tail of 7001: %q", chunks[2])
	}
}
