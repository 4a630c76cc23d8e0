package cli

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/slotshift/slotshift/pkg/stage"
)

func (r *runner) failoverCommand() *cli.Command {
	return &cli.Command{
		Name:  "failover-test",
		Usage: "fail each shard over to its replica and back, under load; gate on the write outage",
		Description: "A shard is a master that owns slots, and its replicas. One shard at a time, slotshift writes keys\n" +
			"that hash to the shard's slots, sends CLUSTER FAILOVER (the coordinated mode) to a healthy replica,\n" +
			"waits until it is master and every node agrees, then fails back the same way and reads every\n" +
			"acknowledged write back. It reports per shard the write outage the clients saw (the longest time\n" +
			"without an acknowledged write around each switch), the promotion and failback times, and the\n" +
			"writes acknowledged, failed and lost. A shard fails when its outage is over the inventory's\n" +
			"failover.max_write_outage (default 5s), when a write is lost, or when the roles are not restored.\n" +
			"If any selected shard has no healthy replica (connected, link up, caught up) nothing is done.\n" +
			"An interrupt restores the original master before slotshift exits.\n\n" +
			"--shard selects shards by their master: node id, host:port, or the inventory's server:port;\n" +
			"repeat it for several. Without it every shard is tested.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "shard", Usage: "test only this shard: its master's node id, host:port or server:port (repeatable)", EnvVars: []string{envName("shard")}},
			intFlag("rate", "writes per second on the shard under test", stage.DefaultFailoverRate),
			intFlag("clients", "concurrent clients of the load", stage.DefaultFailoverClients),
			&cli.DurationFlag{Name: "timeout", Usage: "bound for each wait: a replica catching up, a role switch every node agrees on", Value: stage.DefaultFailoverTimeout, EnvVars: []string{envName("timeout")}},
			&cli.DurationFlag{Name: "settle", Usage: "load time before the failover and after each switch", Value: stage.DefaultFailoverSettle, EnvVars: []string{envName("settle")}},
		},
		Action: func(c *cli.Context) error {
			return r.runStage(c, "failover-test", func(ctx context.Context, c *cli.Context, env stage.Env) (stage.Result, error) {
				return stage.FailoverTest(ctx, env, stage.FailoverInput{
					Shards:  c.StringSlice("shard"),
					Rate:    c.Int("rate"),
					Clients: c.Int("clients"),
					Timeout: c.Duration("timeout"),
					Settle:  c.Duration("settle"),
				})
			})
		},
	}
}
