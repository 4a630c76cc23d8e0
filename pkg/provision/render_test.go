package provision

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/redisconf"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/provision")

const goldenDir = "../../testdata/provision"

func seedInventory() *inventory.Inventory {
	return &inventory.Inventory{
		Version: 1,
		Cluster: inventory.Cluster{Name: "prod-cache", NodeTimeoutMS: 5000,
			RedisConfig: map[string]string{"maxmemory": "4gb", "maxmemory-policy": "allkeys-lru"}},
		Servers: []inventory.Server{{
			Name: "server1", Address: "172.31.6.35",
			Nodes: []inventory.Node{
				{Port: 7000, Role: inventory.RoleMaster},
				{Port: 7001, Role: inventory.RoleReplica, ReplicaOf: "server3:7000"},
			},
		}},
	}
}

const goldenPassword = `golden-password-0123456789`

func TestRenderGolden(t *testing.T) {
	inv := seedInventory()
	files, err := Render(inv, inv.Servers[0], goldenPassword)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/etc/redis/cluster/7000/redis_7000.conf":         "redis_7000.conf.golden",
		"/etc/redis/cluster/7001/redis_7001.conf":         "redis_7001.conf.golden",
		"/etc/systemd/system/redis_7000.service":          "redis_7000.service.golden",
		"/etc/systemd/system/redis_7001.service":          "redis_7001.service.golden",
		"/etc/sysctl.d/60-slotshift-redis.conf":           "sysctl.conf.golden",
		"/etc/systemd/system/slotshift-thp-never.service": "thp.service.golden",
		"/etc/logrotate.d/slotshift-redis":                "logrotate.golden",
	}
	if len(files) != len(want) {
		t.Fatalf("rendered %d files, want %d", len(files), len(want))
	}
	for _, f := range files {
		name, ok := want[f.Path]
		if !ok {
			t.Errorf("unexpected file %s", f.Path)
			continue
		}
		if !matchGolden(t, name, f) {
			continue
		}
		switch f.Kind {
		case KindConf:
			if f.Mode != 0o640 || f.Owner != "redis" || f.Group != "redis" || !f.Secret {
				t.Errorf("%s: mode %o %s:%s secret=%v, want 0640 redis:redis secret", f.Path, f.Mode, f.Owner, f.Group, f.Secret)
			}
		default:
			if f.Secret || strings.Contains(string(f.Content), goldenPassword) {
				t.Errorf("%s holds the password", f.Path)
			}
		}
	}
}

// matchGolden compares f with the golden file name (or, with -update,
// rewrites it and returns false: there is nothing more to check).
func matchGolden(t *testing.T, name string, f File) bool {
	t.Helper()
	golden := filepath.Join(goldenDir, name)
	if *update {
		if err := os.WriteFile(golden, f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
		return false
	}
	exp, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(exp) != string(f.Content) {
		t.Errorf("%s differs from %s:\n%s", f.Path, golden, UnifiedDiff(name, exp, f.Content))
	}
	return true
}

func TestRenderUnitFixesSeed(t *testing.T) {
	inv := seedInventory()
	files, _ := Render(inv, inv.Servers[0], goldenPassword)
	for _, f := range files {
		if f.Kind != KindUnit {
			continue
		}
		u := string(f.Content)
		for _, bad := range []string{"ExecStop", "redis-cli", goldenPassword, "RuntimeDirectory=/", "RuntimeDirectory=redis\n"} {
			if strings.Contains(u, bad) {
				t.Errorf("%s contains %q", f.Path, bad)
			}
		}
		for _, good := range []string{"Type=notify", "--supervised systemd", "LimitNOFILE=65535", "RuntimeDirectory=redis-" + strconv.Itoa(f.Port) + "\n"} {
			if !strings.Contains(u, good) {
				t.Errorf("%s lacks %q", f.Path, good)
			}
		}
	}
}

func TestRenderDaemonMode(t *testing.T) {
	inv := seedInventory()
	f := false
	inv.Provision = inventory.Provision{Service: ServiceDaemon, KernelTuning: &f, User: "root", Group: "root",
		Paths: inventory.Paths{Config: "/srv/conf", Data: "/srv/data", Log: "/srv/log", Run: "/srv/run"}}
	files, err := Render(inv, inv.Servers[0], goldenPassword)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("daemon mode without kernel tuning: want 2 confs + logrotate, got %d", len(files))
	}
	conf := string(files[0].Content)
	for _, want := range []string{"pidfile /srv/run/redis_7000.pid", "dir /srv/data/7000", "logfile /srv/log/redis_7000.log",
		"cluster-config-file /srv/conf/7000/nodes_7000.conf"} {
		if !strings.Contains(conf, want+"\n") {
			t.Errorf("conf lacks %q:\n%s", want, conf)
		}
	}
	dirs := Dirs(inv.Servers[0], SettingsFor(inv, System{}))
	var paths []string
	for _, d := range dirs {
		paths = append(paths, d.Path)
	}
	if !strings.Contains(strings.Join(paths, " "), "/srv/run ") {
		t.Errorf("daemon mode must create the run dir: %v", paths)
	}
}

func TestRenderRejectsManagedOverride(t *testing.T) {
	inv := seedInventory()
	inv.Cluster.RedisConfig = map[string]string{"requirepass": "x"}
	if _, err := Render(inv, inv.Servers[0], goldenPassword); err == nil || !strings.Contains(err.Error(), "requirepass") {
		t.Fatalf("want an error naming requirepass, got %v", err)
	}
	inv.Cluster.RedisConfig = map[string]string{"loglevel": "warning"}
	files, err := Render(inv, inv.Servers[0], goldenPassword)
	if err != nil {
		t.Fatal(err)
	}
	if c := string(files[0].Content); !strings.Contains(c, "loglevel warning\n") || strings.Contains(c, "loglevel notice") {
		t.Errorf("loglevel override not applied once:\n%s", c)
	}
	if _, err := Render(inv, inv.Servers[0], ""); err == nil {
		t.Error("empty password accepted")
	}
}

func TestBind(t *testing.T) {
	for addr, want := range map[string]string{
		"172.31.6.35": "172.31.6.35 127.0.0.1", "127.0.0.1": "127.0.0.1", "redis1.internal": "* -::*",
	} {
		if got := bindFor(addr); got != want {
			t.Errorf("bindFor(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestQuoteConfRoundTrip(t *testing.T) {
	for _, pw := range []string{"plain-password-123456", `sp ace "quote" back\slash`, "tab\tnl\nbyte\x01é"} {
		conf := "requirepass " + redisconf.Quote(pw) + "\n"
		if got := redisconf.Parse([]byte(conf))["requirepass"]; got != pw {
			t.Errorf("round trip %q → %q → %q", pw, conf, got)
		}
		if r := string(redactConf([]byte(conf))); strings.Contains(r, pw) || !strings.Contains(r, Mask) {
			t.Errorf("redactConf left the password: %q", r)
		}
	}
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	inv := seedInventory()
	files, _ := Render(inv, inv.Servers[0], goldenPassword)
	dir := t.TempDir()
	var units []string
	for _, f := range files {
		if f.Kind == KindUnit || f.Kind == KindTHPUnit {
			p := filepath.Join(dir, filepath.Base(f.Path))
			if err := os.WriteFile(p, f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
			units = append(units, p)
		}
	}
	out, err := exec.Command(bin, append([]string{"verify"}, units...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		// verify exits 0 on ignored settings (e.g. the seed's absolute
		// RuntimeDirectory) but names the file: any line about ours fails.
		if strings.Contains(line, dir) {
			t.Errorf("systemd-analyze: %s", line)
		}
	}
}

func TestUnifiedDiff(t *testing.T) {
	if d := UnifiedDiff("/f", []byte("a\nb\n"), []byte("a\nb\n")); d != "" {
		t.Errorf("equal inputs: %q", d)
	}
	old := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"
	neu := "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\neleven\n"
	want := "--- a/f\n+++ b/f\n@@ -2,9 +2,10 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n 10\n+eleven\n"
	if d := UnifiedDiff("/f", []byte(old), []byte(neu)); d != want {
		t.Errorf("diff:\n%s\nwant:\n%s", d, want)
	}
	if d := UnifiedDiff("/f", nil, []byte("x\n")); d != "--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+x\n" {
		t.Errorf("creation diff: %q", d)
	}
	// Two distant changes make two hunks.
	long := strings.Repeat("x\n", 20)
	d := UnifiedDiff("/f", []byte("a\n"+long+"b\n"), []byte("A\n"+long+"B\n"))
	if strings.Count(d, "@@ -") != 2 {
		t.Errorf("want two hunks:\n%s", d)
	}
}

func TestScrubber(t *testing.T) {
	s := NewScrubber("secret-one", "", "secret-two")
	if got := s.String("a secret-one b secret-two"); got != "a "+Mask+" b "+Mask {
		t.Errorf("scrub: %q", got)
	}
}
