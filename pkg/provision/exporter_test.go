package provision

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/sandbox"
)

func exporterInventory() *inventory.Inventory {
	inv := seedInventory()
	inv.Provision.RedisExporter = true
	inv.Monitoring.ExporterPort = 9200
	return inv
}

// TestRenderExportersGolden: with provision.redis_exporter each node gets
// an exporter unit (no secret, the password nowhere in it) and a root-only
// environment file that holds the password, on the monitoring ports.
func TestRenderExportersGolden(t *testing.T) {
	inv := exporterInventory()
	files, err := Render(inv, inv.Servers[0], goldenPassword)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/etc/systemd/system/redis_exporter_7000.service": "redis_exporter_7000.service.golden",
		"/etc/systemd/system/redis_exporter_7001.service": "redis_exporter_7001.service.golden",
		"/etc/redis/cluster/7000/redis_exporter_7000.env": "redis_exporter_7000.env.golden",
		"/etc/redis/cluster/7001/redis_exporter_7001.env": "redis_exporter_7001.env.golden",
	}
	seen := 0
	for _, f := range files {
		name, ok := want[f.Path]
		if f.Kind != KindExporterUnit && f.Kind != KindExporterEnv {
			continue
		}
		if !ok {
			t.Errorf("unexpected exporter file %s", f.Path)
			continue
		}
		seen++
		if !matchGolden(t, name, f) {
			continue
		}
		switch f.Kind {
		case KindExporterEnv:
			if f.Mode != 0o600 || f.Owner != "root" || !f.Secret || !strings.Contains(string(f.Content), goldenPassword) {
				t.Errorf("%s: mode %o owner %s secret=%v, want 0600 root secret with the password", f.Path, f.Mode, f.Owner, f.Secret)
			}
		case KindExporterUnit:
			u := string(f.Content)
			if f.Secret || strings.Contains(u, goldenPassword) || strings.Contains(u, "redis.password") {
				t.Errorf("%s carries the password:\n%s", f.Path, u)
			}
			listen := "-web.listen-address 172.31.6.35:" + strconv.Itoa(9200+f.Port-7000) + " -include-system-metrics\n"
			if !strings.Contains(u, "-redis.addr redis://127.0.0.1:"+strconv.Itoa(f.Port)+" ") || !strings.Contains(u, listen) {
				t.Errorf("%s: wrong addresses:\n%s", f.Path, u)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("rendered %d exporter files, want %d", seen, len(want))
	}
	// Without the switch, no exporter file.
	inv.Provision.RedisExporter = false
	files, _ = Render(inv, inv.Servers[0], goldenPassword)
	for _, f := range files {
		if f.Kind == KindExporterUnit || f.Kind == KindExporterEnv {
			t.Errorf("exporter file %s rendered without provision.redis_exporter", f.Path)
		}
	}
}

// TestExporterPortsFollowInventory: servers sharing an address continue
// one run of ports, a node's own exporter_port wins, and a host name
// listens on every interface.
func TestExporterPortsFollowInventory(t *testing.T) {
	inv := &inventory.Inventory{Version: 1, Cluster: inventory.Cluster{Name: "c"},
		Provision: inventory.Provision{RedisExporter: true},
		Servers: []inventory.Server{
			{Name: "a", Address: "127.0.0.1", Nodes: []inventory.Node{{Port: 7000}, {Port: 7001}}},
			{Name: "b", Address: "127.0.0.1", Nodes: []inventory.Node{{Port: 7002}, {Port: 7003, ExporterPort: 9999}}},
			{Name: "c", Address: "redis-c.example", Nodes: []inventory.Node{{Port: 7000}}},
		}}
	want := map[string]string{
		"b/7002": "127.0.0.1:9123", "b/7003": "127.0.0.1:9999", "c/7000": ":9121",
	}
	for _, srv := range inv.Servers[1:] {
		files, err := Render(inv, srv, "pw")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if f.Kind != KindExporterUnit {
				continue
			}
			key := srv.Name + "/" + strconv.Itoa(f.Port)
			if !strings.Contains(string(f.Content), "-web.listen-address "+want[key]+" ") {
				t.Errorf("%s: want listen %s:\n%s", key, want[key], f.Content)
			}
			delete(want, key)
		}
	}
	if len(want) != 0 {
		t.Errorf("no exporter unit for %v", want)
	}
}

func TestEnvQuote(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:      `'plain'`,
		`a$b"c\d`:    `'a$b"c\d'`,
		`it's $x\ "`: `"it's \$x\\ \""`,
	} {
		if got := envQuote(in); got != want {
			t.Errorf("envQuote(%q) = %s, want %s", in, got, want)
		}
	}
	inv := exporterInventory()
	if _, err := Render(inv, inv.Servers[0], "two\nlines"); err == nil {
		t.Error("a password with a line break rendered into an environment file")
	}
}

func TestRedactConfMasksExporterPassword(t *testing.T) {
	got := string(redactConf([]byte("# x\nREDIS_PASSWORD='s3cret'\n")))
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "REDIS_PASSWORD="+Mask) {
		t.Errorf("redacted: %q", got)
	}
}

// TestExporterUnitRunsRealExporter runs the real prometheus-redis-exporter
// with the rendered unit's ExecStart and, as systemd would, the password
// from the environment only: it must log in to a real redis-server with
// requirepass (redis_up 1), and without the environment it must not.
func TestExporterUnitRunsRealExporter(t *testing.T) {
	bin, err := exec.LookPath("prometheus-redis-exporter")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("prometheus-redis-exporter not found in CI (scripts/install-deps.sh installs it): %v", err)
		}
		t.Skipf("skipping: prometheus-redis-exporter not found: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const password = `it's a "pw" $HOME`
	node, err := sandbox.StartFree(ctx, sandbox.NodeConfig{Dir: t.TempDir(), Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Kill() })

	for _, withEnv := range []bool{true, false} {
		eport, err := sandbox.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		inv := &inventory.Inventory{Version: 1, Cluster: inventory.Cluster{Name: "c"},
			Provision: inventory.Provision{RedisExporter: true},
			Servers:   []inventory.Server{{Name: "s", Address: "127.0.0.1", Nodes: []inventory.Node{{Port: node.Port, ExporterPort: eport}}}}}
		s := SettingsFor(inv, System{RedisExporter: bin})
		files, err := renderExporters(inv, inv.Servers[0], password, s)
		if err != nil {
			t.Fatal(err)
		}
		var argv []string
		for _, f := range files {
			if f.Kind == KindExporterUnit {
				for _, line := range strings.Split(string(f.Content), "\n") {
					if cmd, ok := strings.CutPrefix(line, "ExecStart="); ok {
						argv = strings.Fields(cmd)
					}
				}
			}
		}
		if len(argv) == 0 || argv[0] != bin || strings.Contains(strings.Join(argv, " "), "pw") {
			t.Fatalf("ExecStart %q", argv)
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		if withEnv {
			cmd.Env = append(cmd.Env, passwordEnv+"="+password)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		up := scrapeRedisUp(t, "http://127.0.0.1:"+strconv.Itoa(eport)+"/metrics")
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if want := map[bool]string{true: "1", false: "0"}[withEnv]; up != want {
			t.Errorf("with password env %v: redis_up %s, want %s", withEnv, up, want)
		}
	}
}

// scrapeRedisUp polls an exporter until it answers and returns redis_up.
func scrapeRedisUp(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "redis_up "); ok {
					return v
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no redis_up from %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
