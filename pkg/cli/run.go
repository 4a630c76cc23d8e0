package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/logkey"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/stage"
)

// runner holds what every command shares.
type runner struct {
	io IO
}

// stageFunc runs one stage once the inventory and secrets are loaded.
type stageFunc func(ctx context.Context, c *cli.Context, env stage.Env) (stage.Result, error)

// runStage is the frame every stage runs in: load the inventory and the
// secrets, mask them in GitHub Actions before anything is printed, run the
// stage, and — whatever happened, including a panic or a signal — write the
// JSON and JUnit reports and publish outputs.
func (r *runner) runStage(c *cli.Context, name string, fn stageFunc) (err error) {
	started := time.Now()
	getenv := r.io.Getenv
	rep := &report.Report{
		FormatVersion: report.FormatVersion,
		Tool:          report.Tool{Name: "slotshift", Version: Version},
		Stage:         name,
		StartedAt:     started.UTC(),
		Checks:        []report.Check{},
	}

	inv, invErr := inventory.FromEnv(getenv, c.String(flagInventory))
	secrets, secErr := loadSecrets(c, getenv, inv)
	actions := report.NewActions(getenv, r.io.Stdout)
	actions.Mask(secrets.Values()...) // before anything else is printed
	redactor := report.NewRedactor(secrets.Values()...)
	stderr := &redactWriter{w: r.io.Stderr, r: redactor}
	out, logErr := r.output(c, stderr)
	log := out.log
	// go-redis prints its own dial failures on stderr; they are already in
	// the checks, so send them to the logger at debug level instead.
	admin.RouteDriverLog(log)

	var res stage.Result
	ctx := c.Context
	defer func() {
		if p := recover(); p != nil {
			err = &ExitError{Code: CodeError, Err: fmt.Errorf("internal error: %v", p)}
			log.Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
		outcome, code := outcomeOf(ctx, &res, err)
		rep.Outcome, rep.ExitCode = outcome, code
		if err != nil {
			rep.Error = err.Error()
			var ue *stage.UsageError
			if errors.As(err, &ue) {
				rep.Hint = ue.Hint
			}
		}
		fill(rep, inv, &res)
		rep.Finish(time.Now())
		jsonPath, junitPath, werr := report.Write(c.String(flagReportDir), rep, redactor)
		if werr != nil {
			log.Error("writing reports", logkey.Error, werr)
			if code == CodePass {
				code = CodeError
			}
		}
		actions.Publish(rep, jsonPath, junitPath)
		out.verdict(rep, jsonPath, junitPath)
		// The verdict names the error: main must not print it again.
		if code != CodePass && err == nil {
			err = &ExitError{Code: code, Err: fmt.Errorf("%s: %s", name, outcome), Reported: true}
		} else if err != nil {
			err = &ExitError{Code: code, Err: err, Reported: true}
		}
	}()

	switch {
	case invErr != nil:
		var ie *inventory.Error
		if errors.As(invErr, &ie) {
			for _, p := range ie.Problems {
				msg := p.Message
				if p.Field != "" {
					msg = p.Field + ": " + msg
				}
				res.Add(report.Check{ID: "inventory.parse", Status: report.Fail, Message: msg, File: p.File, Line: p.Line})
			}
		}
		return &stage.UsageError{Err: invErr, Hint: "fix the inventory; see README.md for its format"}
	case secErr != nil:
		return secErr
	case logErr != nil:
		return &stage.UsageError{Err: logErr}
	}
	if bad := inventory.Invalid(inventory.Check(inv, nil)); len(bad) > 0 {
		msgs := make([]string, len(bad))
		for i, f := range bad {
			res.Add(findingCheck(f))
			msgs[i] = fmt.Sprintf("%s:%d: %s", f.File, f.Line, f.Message)
		}
		return &stage.UsageError{Err: fmt.Errorf("invalid inventory:\n  %s", strings.Join(msgs, "\n  ")), Hint: "fix the inventory; 'slotshift validate --offline' lists every rule"}
	}
	env := stage.Env{Inventory: inv, Secrets: secrets, Log: log, Status: out.status}
	// Fold the stage's progress and logs in the Actions log; the verdict
	// printed after it stays visible.
	actions.Group("slotshift " + name)
	if warn := check.CheckTLSVerify(inv); len(warn) > 0 {
		log.Warn(warn[0].Message)
		defer func() { res.Checks = append(warn, res.Checks...) }()
	}
	res, err = fn(ctx, c, env)
	actions.EndGroup()
	return err
}

// findingCheck turns an inventory finding into a report check that is
// annotated on the inventory line.
func findingCheck(f inventory.Finding) report.Check {
	st := report.Fail
	if f.Severity == inventory.SeverityWarn {
		st = report.Warn
	}
	msg := f.Message
	if f.Field != "" && !strings.HasPrefix(msg, f.Field) {
		msg = f.Field + ": " + msg
	}
	return report.Check{ID: f.ID, Status: st, Message: msg, Node: f.Node, File: f.File, Line: f.Line}
}

// fill copies the stage result into the report.
func fill(rep *report.Report, inv *inventory.Inventory, res *stage.Result) {
	if inv != nil {
		rep.Cluster.Name = inv.Cluster.Name
		rep.Cluster.InventoryFile = inv.Source
	}
	rep.Cluster.Fingerprint = res.Fingerprint
	rep.Cluster.Masters, rep.Cluster.Replicas = res.Masters, res.Replicas
	rep.Checks = append(rep.Checks, res.Checks...)
	rep.Summary = res.Summary
	rep.Outputs = res.Outputs
	rep.Join, rep.Rebalance, rep.Provision = res.Join, res.Rebalance, res.Provision
	rep.Load = res.Load
	rep.Failover = res.Failover
}

// loadSecrets reads the credentials from the environment variables the
// inventory names (or the defaults), and key files given by flag.
func loadSecrets(c *cli.Context, getenv func(string) string, inv *inventory.Inventory) (stage.Secrets, error) {
	passEnv := inventory.PasswordEnv(inv)
	userEnv := ""
	if inv != nil {
		userEnv = inv.Cluster.UserEnv
	}
	s := stage.Secrets{
		Password:      getenv(passEnv),
		SSHKey:        getenv("SLOTSHIFT_SSH_KEY"),
		SSHPassphrase: getenv("SLOTSHIFT_SSH_KEY_PASSPHRASE"),
		KnownHosts:    getenv("SLOTSHIFT_SSH_KNOWN_HOSTS"),
	}
	if userEnv != "" {
		s.Username = getenv(userEnv)
	}
	offline := c.Command.Name == "validate" && c.Bool("offline")
	if err := loadTLS(getenv, inv, &s, offline); err != nil {
		return s, err
	}
	if f := flagValue(c, "ssh-key-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return s, &stage.UsageError{Err: fmt.Errorf("--ssh-key-file: %w", err)}
		}
		s.SSHKey = string(b)
	}
	if f := flagValue(c, "known-hosts-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return s, &stage.UsageError{Err: fmt.Errorf("--known-hosts-file: %w", err)}
		}
		s.KnownHosts = string(b)
	}
	return s, nil
}

// flagValue returns a string flag's value, or "" when the command has no
// such flag.
func flagValue(c *cli.Context, name string) string {
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			if n == name {
				return c.String(name)
			}
		}
	}
	return ""
}

// redactWriter scrubs secrets from everything written to stderr, a second
// line of defence behind "never log a secret".
type redactWriter struct {
	w io.Writer
	r *report.Redactor
}

func (w *redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.w, w.r.Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
