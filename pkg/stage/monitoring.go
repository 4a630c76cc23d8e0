package stage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/slotshift/slotshift/pkg/atomicfile"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/monitoring"
	"github.com/slotshift/slotshift/pkg/report"
)

// MonitoringInput configures monitoring.
type MonitoringInput struct {
	// Output is the directory the files are written to; created if missing.
	Output string
	// ScrapeInterval is Prometheus' scrape and evaluation interval. 0 = 15s.
	ScrapeInterval time.Duration
}

// Check ids of the monitoring stage: one per file, plus the inventory's
// exporter ports.
const (
	IDMonitoringTargets   = "monitoring.targets"
	IDMonitoringRules     = "monitoring.rules"
	IDMonitoringDashboard = "monitoring.dashboard"
	IDMonitoringConfig    = "monitoring.prometheus_config"
)

// monitoringFiles maps each generated file to its check id and its
// Actions output.
var monitoringFiles = map[string]struct{ id, output string }{
	monitoring.TargetsFile:   {IDMonitoringTargets, "targets-file"},
	monitoring.RulesFile:     {IDMonitoringRules, "rules-file"},
	monitoring.DashboardFile: {IDMonitoringDashboard, "dashboard-file"},
	monitoring.ConfigFile:    {IDMonitoringConfig, "prometheus-config"},
}

// Monitoring writes the Prometheus targets, alerting rules, Grafana
// dashboard and prometheus.yml for the inventory's nodes into in.Output.
// It talks to no node. Exporter ports that clash, or a missing cluster
// name, are bad input (a UsageError, with the failed rules as checks); a
// file that would hold a secret is not written and fails its check; a
// file that cannot be written is an error.
func Monitoring(ctx context.Context, env Env, in MonitoringInput) (Result, error) {
	inv := env.Inventory
	if inv == nil {
		return Result{}, Usagef("monitoring: no inventory")
	}
	if in.Output == "" {
		return Result{}, &UsageError{Err: errors.New("monitoring: no output directory"), Hint: "pass --output DIR"}
	}
	res := Result{Outputs: map[string]string{}}
	res.Masters, res.Replicas = provisionRoles(inv)
	for _, f := range inventory.Check(inv, nil) {
		if f.ID == inventory.RuleExporterPorts && f.Severity == inventory.SeverityFail {
			res.Add(report.Check{ID: f.ID, Status: report.Fail, Message: f.Message, Node: f.Node, File: f.File, Line: f.Line,
				Tags: []string{"field:" + f.Field}})
		}
	}
	if len(res.Checks) > 0 {
		return res, &UsageError{Err: fmt.Errorf("monitoring: %d exporter port problem(s) in the inventory", len(res.Checks)),
			Hint: "give each node's redis_exporter its own port: monitoring.exporter_port, servers[].monitoring.exporter_port or a node's exporter_port"}
	}
	files, err := monitoring.Generate(inv, monitoring.Options{ScrapeInterval: in.ScrapeInterval})
	if errors.Is(err, monitoring.ErrNoClusterName) {
		c := report.Check{ID: IDMonitoringTargets, Status: report.Fail, Message: err.Error(), File: inv.Source, Line: inv.Cluster.Line}
		res.Add(c)
		return res, &UsageError{Err: fmt.Errorf("monitoring: %w", err), Hint: "set cluster.name in the inventory"}
	}
	if err != nil {
		return res, fmt.Errorf("monitoring: %w", err)
	}

	changed := 0
	var werr error
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("monitoring: %w", err)
		}
		c, wrote, err := writeMonitoringFile(in.Output, f, env.Secrets)
		res.Add(c)
		werr = errors.Join(werr, err)
		if wrote {
			changed++
		}
		if c.Status == report.Pass {
			res.Outputs[monitoringFiles[f.Name].output] = filepath.Join(in.Output, f.Name)
		}
	}
	res.Outputs["output-dir"] = in.Output
	res.Outputs["targets"] = strconv.Itoa(len(inv.Nodes()))
	res.Outputs["files-changed"] = strconv.Itoa(changed)
	res.Summary = []string{fmt.Sprintf("%s: %d of %d files changed, %d targets", in.Output, changed, len(files), len(inv.Nodes()))}
	if env.Log != nil {
		env.Log.Info("monitoring files written", "dir", in.Output, "files", len(files), "changed", changed)
	}
	if werr != nil {
		return res, fmt.Errorf("monitoring: %w", werr)
	}
	return res, nil
}

// writeMonitoringFile writes one file unless it would hold a secret or is
// already up to date, and returns its check, whether it was written, and
// the write error.
func writeMonitoringFile(dir string, f monitoring.File, sec Secrets) (report.Check, bool, error) {
	path := filepath.Join(dir, f.Name)
	c := report.Check{ID: monitoringFiles[f.Name].id, Status: report.Pass}
	for _, v := range sec.Values() {
		if bytes.Contains(f.Data, []byte(v)) {
			// Never print what matched: it is the secret.
			c.Status = report.Fail
			c.Message = fmt.Sprintf("%s not written: it would contain a secret from the environment (the inventory holds a credential where a name belongs)", path)
			c.Hint = "check cluster.name, server names and addresses in the inventory"
			return c, false, nil
		}
	}
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.Data) {
		c.Message = fmt.Sprintf("%s unchanged: %s", path, f.Summary)
		return c, false, nil
	}
	if err := atomicfile.Write(path, f.Data, 0o644); err != nil {
		c.Status = report.Error
		c.Message = fmt.Sprintf("%s not written: %v", path, err)
		return c, false, err
	}
	c.Message = fmt.Sprintf("wrote %s: %s", path, f.Summary)
	return c, true, nil
}
