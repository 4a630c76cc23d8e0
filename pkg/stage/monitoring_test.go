package stage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/monitoring"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// monitoringInventory is a 3+3 inventory on made-up ports: the stage
// talks to no node.
func monitoringInventory(t testing.TB, extra string) Env {
	inv := parseInv(t, crossYAML([]int{7000, 7002, 7004, 7001, 7003, 7005}, extra))
	return harnessEnv(t, inv, sandboxtest.DefaultPassword)
}

func TestMonitoringWritesEveryFile(t *testing.T) {
	env := monitoringInventory(t, "")
	dir := filepath.Join(t.TempDir(), "monitoring")
	res, err := Monitoring(ctxT(t), env, MonitoringInput{Output: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{IDMonitoringTargets, IDMonitoringRules, IDMonitoringDashboard, IDMonitoringConfig} {
		want(t, res.Checks, id, "", report.Pass, "wrote "+dir)
	}
	if len(res.Checks) != 4 || res.Outcome() != report.OutcomePass {
		t.Fatalf("checks: %+v", res.Checks)
	}
	outputs := map[string]string{
		"targets-file": monitoring.TargetsFile, "rules-file": monitoring.RulesFile,
		"dashboard-file": monitoring.DashboardFile, "prometheus-config": monitoring.ConfigFile,
	}
	for out, name := range outputs {
		if res.Outputs[out] != filepath.Join(dir, name) {
			t.Errorf("output %s = %q, want %s", out, res.Outputs[out], filepath.Join(dir, name))
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(data) == 0 {
			t.Errorf("%s: %v (%d bytes)", name, err, len(data))
		}
		if strings.Contains(string(data), sandboxtest.DefaultPassword) {
			t.Errorf("%s holds the password", name)
		}
	}
	if res.Outputs["targets"] != "6" || res.Outputs["files-changed"] != "4" || res.Masters != 3 || res.Replicas != 3 {
		t.Errorf("outputs %v, masters %d, replicas %d", res.Outputs, res.Masters, res.Replicas)
	}

	// Again: nothing changes, and the checks say so.
	res, err = Monitoring(ctxT(t), env, MonitoringInput{Output: dir})
	if err != nil {
		t.Fatal(err)
	}
	want(t, res.Checks, IDMonitoringRules, "", report.Pass, "unchanged")
	if res.Outputs["files-changed"] != "0" {
		t.Errorf("second run changed %s files", res.Outputs["files-changed"])
	}
}

func TestMonitoringBadInput(t *testing.T) {
	t.Run("no output", func(t *testing.T) {
		_, err := Monitoring(ctxT(t), monitoringInventory(t, ""), MonitoringInput{})
		var ue *UsageError
		if !errors.As(err, &ue) || ue.Hint != "pass --output DIR" {
			t.Fatalf("err = %v, want a usage error asking for --output", err)
		}
	})
	t.Run("exporter ports clash", func(t *testing.T) {
		env := monitoringInventory(t, "monitoring: {exporter_port: 7003}\n")
		dir := t.TempDir()
		res, err := Monitoring(ctxT(t), env, MonitoringInput{Output: dir})
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Fatalf("err = %v, want a usage error", err)
		}
		c := want(t, res.Checks, "inventory.exporter_ports", "127.0.0.1:7000", report.Fail, "127.0.0.1:7003 is already taken by node server2:7003")
		if c.File != "inventory.yml" || c.Line != 9 {
			t.Errorf("check at %s:%d, want inventory.yml:9", c.File, c.Line)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("files written despite bad input: %v", entries)
		}
	})
	t.Run("secret in the inventory", func(t *testing.T) {
		env := monitoringInventory(t, "")
		env.Inventory.Cluster.Name = sandboxtest.DefaultPassword
		dir := t.TempDir()
		res, err := Monitoring(ctxT(t), env, MonitoringInput{Output: dir})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome() != report.OutcomeFail || len(failures(res.Checks)) != 4 {
			t.Fatalf("want every file refused, got %+v", res.Checks)
		}
		for _, c := range res.Checks {
			if strings.Contains(c.Message, sandboxtest.DefaultPassword) {
				t.Errorf("check echoes the secret: %q", c.Message)
			}
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("files written holding a secret: %v", entries)
		}
	})
	t.Run("output is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := Monitoring(ctxT(t), monitoringInventory(t, ""), MonitoringInput{Output: file})
		var ue *UsageError
		if err == nil || errors.As(err, &ue) {
			t.Fatalf("err = %v, want an error that is not a usage error", err)
		}
		want(t, res.Checks, IDMonitoringTargets, "", report.Error, "not written")
	})
}

// needBin returns bin's path. Without it the test is skipped on a
// developer's machine and fails in CI, where scripts/install-deps.sh has
// installed it.
func needBin(t *testing.T, bin string) string {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found in CI (scripts/install-deps.sh installs it): %v", bin, err)
		}
		t.Skipf("skipping: %s not found (run scripts/install-deps.sh): %v", bin, err)
	}
	return path
}

// startProcess starts a long-running child; t.Cleanup kills it and waits
// for it. Its output is returned for failure messages.
func startProcess(t *testing.T, env []string, name string, args ...string) *sandboxtest.Output {
	t.Helper()
	out := &sandboxtest.Output{}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return out
}

// getJSON GETs url and decodes Prometheus' API envelope's data into v.
func getJSON(url string, v any) error {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return json.Unmarshal(body, &struct{ Data any }{Data: v})
}

// eventually polls cond every 250 ms until it returns "" (done) or the
// timeout passes, then fails with cond's last reason and the logs.
func eventually(t *testing.T, timeout time.Duration, what string, logs *sandboxtest.Output, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %s\nprometheus log:\n%s", what, timeout, why, logs)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestMonitoringWithPrometheus runs what the files describe: a real
// cluster, one real redis_exporter per node on the ports the inventory
// gives, and a real Prometheus started on the generated prometheus.yml. Every
// node's target must come up with its labels, every rule must load and
// evaluate, every metric the rules and the dashboard use must be one the
// exporter serves, and killing a node must make its RedisDown alert pend.
func TestMonitoringWithPrometheus(t *testing.T) {
	exporter := needBin(t, "prometheus-redis-exporter")
	prom := needBin(t, "prometheus")
	c, inv := startCross(t)
	env := harnessEnv(t, inv, c.Password)

	// One exporter per node, each on a free port written into the
	// inventory; the password reaches it through its environment only.
	exporterURLs := map[string]string{} // node addr → metrics URL
	for i := range inv.Servers {
		for j := range inv.Servers[i].Nodes {
			port, err := sandbox.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			n := &inv.Servers[i].Nodes[j]
			n.ExporterPort = port
			addr := "127.0.0.1:" + strconv.Itoa(n.Port)
			startProcess(t, []string{"REDIS_PASSWORD=" + c.Password}, exporter,
				"-redis.addr", "redis://"+addr, "-web.listen-address", "127.0.0.1:"+strconv.Itoa(port), "-include-system-metrics")
			exporterURLs[addr] = fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
		}
	}

	dir := t.TempDir()
	res, err := Monitoring(ctxT(t), env, MonitoringInput{Output: dir, ScrapeInterval: time.Second})
	if err != nil || res.Outcome() != report.OutcomePass {
		t.Fatalf("monitoring: %v %+v", err, res.Checks)
	}
	checkMetricNames(t, dir, exporterURLs)

	promPort, err := sandbox.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1/", promPort)
	logs := startProcess(t, nil, prom, "--config.file="+filepath.Join(dir, monitoring.ConfigFile),
		"--storage.tsdb.path="+t.TempDir(), "--web.listen-address=127.0.0.1:"+strconv.Itoa(promPort))

	eventually(t, 60*time.Second, "every node's exporter target up", logs, func() string {
		return targetsUp(api, inv.Cluster.Name, len(inv.Nodes()), exporterURLs)
	})
	alerts, err := os.ReadFile(filepath.Join(dir, monitoring.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "every rule loaded and evaluated", logs, func() string {
		return rulesHealthy(api, strings.Count(string(alerts), "- alert: "))
	})

	// A dead node: its exporter reports redis_up 0 and RedisDown pends for
	// that node alone.
	victim := c.Nodes[len(c.Nodes)-1]
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	victimAddr := "127.0.0.1:" + strconv.Itoa(victim.Port)
	eventually(t, 30*time.Second, "RedisDown pending for "+victimAddr, logs, func() string {
		var alerts struct {
			Alerts []struct {
				Labels map[string]string
				State  string
			}
		}
		if err := getJSON(api+"alerts", &alerts); err != nil {
			return err.Error()
		}
		var down []string
		for _, a := range alerts.Alerts {
			if a.Labels["alertname"] == "RedisDown" {
				down = append(down, a.Labels["node"]+"="+a.State)
			}
		}
		if len(down) != 1 || down[0] != victimAddr+"=pending" {
			return fmt.Sprintf("RedisDown alerts: %v", down)
		}
		return ""
	})
}

// targetsUp says what is missing before every node's target is up with
// the node's labels ("" when all are).
func targetsUp(api, cluster string, nodes int, exporterURLs map[string]string) string {
	var targets struct {
		ActiveTargets []struct {
			Labels    map[string]string
			ScrapeURL string
			Health    string
			LastError string
		}
	}
	if err := getJSON(api+"targets", &targets); err != nil {
		return err.Error()
	}
	if len(targets.ActiveTargets) != nodes {
		return fmt.Sprintf("%d targets, want %d", len(targets.ActiveTargets), nodes)
	}
	for _, tg := range targets.ActiveTargets {
		node := tg.Labels["node"]
		if tg.Health != "up" {
			return fmt.Sprintf("target %s is %s %s", tg.ScrapeURL, tg.Health, tg.LastError)
		}
		if exporterURLs[node] != tg.ScrapeURL || tg.Labels["cluster"] != cluster || tg.Labels["server"] == "" || tg.Labels["inventory_role"] == "" {
			return fmt.Sprintf("target %s has labels %v (exporter of %s: %s)", tg.ScrapeURL, tg.Labels, node, exporterURLs[node])
		}
	}
	return ""
}

// rulesHealthy says what is missing before all want rules are loaded and
// have evaluated without error, with no alert pending or firing.
func rulesHealthy(api string, want int) string {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Name, Health, LastError, State string
			}
		}
	}
	if err := getJSON(api+"rules", &rules); err != nil {
		return err.Error()
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				return fmt.Sprintf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
			}
			if r.State != "inactive" {
				return fmt.Sprintf("rule %s is %s on a healthy cluster", r.Name, r.State)
			}
		}
	}
	if want < 10 || n != want {
		return fmt.Sprintf("%d rules loaded, want %d", n, want)
	}
	return ""
}

// metricRE finds the metric of each selector ("name{") in an expression.
var metricRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\{`)

// checkMetricNames fails for every metric that the rules or the dashboard
// use and no exporter serves ("up" is Prometheus' own).
func checkMetricNames(t *testing.T, dir string, exporterURLs map[string]string) {
	t.Helper()
	served := map[string]bool{"up": true}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, u := range exporterURLs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := scrape(t, u)
			mu.Lock()
			defer mu.Unlock()
			for _, line := range strings.Split(body, "\n") {
				if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
					name, kind, _ := strings.Cut(name, " ")
					served[name] = true
					if kind == "summary" {
						served[name+"_sum"], served[name+"_count"] = true, true
					}
				}
			}
		}()
	}
	wg.Wait()
	used := 0
	for _, f := range []string{monitoring.RulesFile, monitoring.DashboardFile} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricRE.FindAllStringSubmatch(string(data), -1) {
			used++
			if !served[m[1]] {
				t.Errorf("%s uses %s, which no redis_exporter serves", f, m[1])
			}
		}
	}
	if used < 20 {
		t.Fatalf("found only %d metric selectors in the rules and dashboard", used)
	}
}

// scrape GETs an exporter's metrics, waiting up to 10 s for it to listen
// and to reach its node.
func scrape(t *testing.T, u string) string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK && strings.Contains(string(body), "\nredis_up 1") {
				return string(body)
			}
			err = fmt.Errorf("%s %v", resp.Status, rerr)
		}
		if time.Now().After(deadline) {
			t.Errorf("exporter %s: %v", u, err)
			return ""
		}
		time.Sleep(100 * time.Millisecond)
	}
}
