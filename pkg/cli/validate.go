package cli

import (
	"context"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/stage"
)

func (r *runner) validateCommand() *cli.Command {
	return &cli.Command{
		Name:  "validate",
		Usage: "check the inventory (and, online, the live cluster) before any change",
		Flags: []cli.Flag{
			boolFlag("offline", "check only the inventory; no network (for pull requests)"),
			stringFlag("base", "the inventory at the PR's base, e.g. from 'git show origin/main:inventory.yml'; servers not in it are new", ""),
			boolFlag("require-odd-servers", "fail, not warn, on an even number of servers"),
			stringFlag("backup-manifest", "a manifest written by 'slotshift backup': fail unless it covers every slot with good files younger than backup.max_age", ""),
		},
		Action: func(c *cli.Context) error {
			return r.runStage(c, "validate", func(ctx context.Context, c *cli.Context, env stage.Env) (stage.Result, error) {
				in := stage.ValidateInput{Offline: c.Bool("offline"), RequireOddServers: c.Bool("require-odd-servers"), BackupManifest: c.String("backup-manifest")}
				if p := c.String("base"); p != "" {
					data, err := os.ReadFile(p)
					if err != nil {
						return stage.Result{}, &stage.UsageError{Err: err, Hint: "--base names the inventory file of the PR's base"}
					}
					base, err := inventory.Parse(p, data)
					if err != nil {
						return stage.Result{}, &stage.UsageError{Err: err}
					}
					in.Base = base
				}
				return stage.Validate(ctx, env, in)
			})
		},
	}
}
