package cli

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/slotshift/slotshift/pkg/stage"
)

func (r *runner) verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "check health, slot coverage, placement, replication and canary reads/writes",
		Flags: []cli.Flag{
			boolFlag("no-canary", "skip the canary writes and reads"),
		},
		Action: func(c *cli.Context) error {
			return r.runStage(c, "verify", func(ctx context.Context, c *cli.Context, env stage.Env) (stage.Result, error) {
				return stage.Verify(ctx, env, stage.VerifyInput{NoCanary: c.Bool("no-canary")})
			})
		},
	}
}
