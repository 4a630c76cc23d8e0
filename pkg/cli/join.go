package cli

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/slotshift/slotshift/pkg/stage"
)

func (r *runner) joinCommand() *cli.Command {
	return &cli.Command{
		Name:  "join",
		Usage: "create the cluster, or add the inventory's new masters then replicas (idempotent)",
		Flags: []cli.Flag{
			boolFlag("masters-only", "add new masters but not their replicas (the manual order: masters, rebalance, replicas)"),
			boolFlag("prune", "remove nodes the cluster has and the inventory lacks (they must own no slots)"),
			&cli.DurationFlag{Name: "timeout", Usage: "bound for every convergence wait", Value: defaultTimeout, EnvVars: []string{envName("timeout")}},
		},
		Action: func(c *cli.Context) error {
			return r.runStage(c, "join", func(ctx context.Context, c *cli.Context, env stage.Env) (stage.Result, error) {
				return stage.Join(ctx, env, stage.JoinInput{
					MastersOnly: c.Bool("masters-only"),
					Prune:       c.Bool("prune"),
					Timeout:     c.Duration("timeout"),
				})
			})
		},
	}
}
