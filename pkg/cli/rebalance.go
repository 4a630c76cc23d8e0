package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/slotshift/slotshift/pkg/metrics"
	"github.com/slotshift/slotshift/pkg/plan"
	"github.com/slotshift/slotshift/pkg/stage"
)

const defaultTimeout = 60 * time.Second

func rebalanceFlags(planOnly bool) []cli.Flag {
	flags := []cli.Flag{
		stringFlag("target-layout", "plan toward a layout saved by 'slotshift snapshot' (rollback)", ""),
	}
	if planOnly {
		return flags
	}
	return append(flags,
		boolFlag("dry-run", "plan and report; move nothing"),
		stringFlag("require-backup", "refuse to start (exit 1) unless this backup manifest covers every slot with good files younger than backup.max_age", ""),
		intFlag("max-batches", "move at most N batches, then exit 0 with output batches-remaining (0 = all)", 0),
		stringFlag("pause-file", "pause between slots while this file exists", ""),
		stringFlag("abort-file", "stop at the next slot boundary when this file appears", ""),
		stringFlag("metrics-file", "write Prometheus metrics at each status tick and at the end (node_exporter textfile collector)", ""),
		stringFlag("pushgateway", "also push the metrics to this Pushgateway URL (job slotshift, label cluster); a failed push only warns", ""),
		intFlag("concurrency", "slot moves (or atomic migration tasks) in flight at once (0 = default)", 0),
		stringFlag("mover", "slot migration protocol: legacy (SETSLOT/MIGRATE), atomic (the servers' own: Redis >= 8.4, Valkey >= 9.0) or auto (atomic where every master has it)", "auto"),
		&cli.DurationFlag{Name: "timeout", Usage: "bound for the convergence wait before the first batch", Value: defaultTimeout, EnvVars: []string{envName("timeout")}},
		&cli.StringFlag{Name: "fault-kill-at", Hidden: true, Usage: "crash tests only: SIGKILL self before STEP[:N]", EnvVars: []string{envName("fault-kill-at")}},
	)
}

func rebalanceInput(c *cli.Context, planOnly bool) (stage.RebalanceInput, error) {
	in := stage.RebalanceInput{DryRun: planOnly}
	if p := c.String("target-layout"); p != "" {
		l, err := readLayout(p)
		if err != nil {
			return in, err
		}
		in.TargetLayout = l
	}
	if planOnly {
		return in, nil
	}
	in.DryRun = c.Bool("dry-run")
	in.RequireBackup = c.String("require-backup")
	in.MaxBatches = c.Int("max-batches")
	if in.MaxBatches < 0 {
		return in, stage.Usagef("--max-batches %d: want 0 (all) or more", in.MaxBatches)
	}
	in.PauseFile, in.AbortFile = c.String("pause-file"), c.String("abort-file")
	in.Concurrency = c.Int("concurrency")
	switch in.Mover = strings.ToLower(c.String("mover")); in.Mover {
	case "legacy", "atomic", "auto":
	default:
		return in, stage.Usagef("--mover %q: want legacy, atomic or auto", c.String("mover"))
	}
	in.MetricsFile, in.Pushgateway = c.String("metrics-file"), c.String("pushgateway")
	if _, err := metrics.PushURL(in.Pushgateway, ""); in.Pushgateway != "" && err != nil {
		return in, &stage.UsageError{Err: fmt.Errorf("--pushgateway: %w", err)}
	}
	in.Timeout = c.Duration("timeout")
	// With JSON logs, progress goes out as log events, not a human line.
	in.ProgressEvents = strings.EqualFold(c.String(flagLogFormat), "json")
	in.FaultKillAt = c.String("fault-kill-at")
	return in, nil
}

func readLayout(path string) (*plan.Layout, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &stage.UsageError{Err: fmt.Errorf("--target-layout: %w", err)}
	}
	var l plan.Layout
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, &stage.UsageError{Err: fmt.Errorf("--target-layout %s: %w", path, err), Hint: "use a file written by 'slotshift snapshot'"}
	}
	return &l, nil
}

func (r *runner) rebalanceCommand() *cli.Command {
	return &cli.Command{
		Name:  "rebalance",
		Usage: "move hash slots in gated batches toward the planned layout (resumes after any crash)",
		Flags: rebalanceFlags(false),
		Action: func(c *cli.Context) error {
			return r.runStage(c, "rebalance", func(ctx context.Context, c *cli.Context, env stage.Env) (stage.Result, error) {
				in, err := rebalanceInput(c, false)
				if err != nil {
					return stage.Result{}, err
				}
				return stage.Rebalance(ctx, env, in)
			})
		},
	}
}

func (r *runner) planCommand() *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "print the rebalance plan; changes nothing",
		Flags: rebalanceFlags(true),
		Action: func(c *cli.Context) error {
			return r.runStage(c, "plan", func(ctx context.Context, c *cli.Context, env stage.Env) (stage.Result, error) {
				in, err := rebalanceInput(c, true)
				if err != nil {
					return stage.Result{}, err
				}
				return stage.Plan(ctx, env, in)
			})
		},
	}
}

func (r *runner) snapshotCommand() *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "save the current slot layout (for rollback with rebalance --target-layout)",
		Flags: []cli.Flag{
			stringFlag("output", "layout file to write", "slotshift-layout.json"),
		},
		Action: func(c *cli.Context) error {
			return r.runStage(c, "snapshot", func(ctx context.Context, c *cli.Context, env stage.Env) (stage.Result, error) {
				return stage.Snapshot(ctx, env, stage.SnapshotInput{Output: c.String("output")})
			})
		},
	}
}
