package cli

import (
	"context"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/slotshift/slotshift/pkg/stage"
)

func (r *runner) verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "check health, slot coverage, placement, replication and canary reads/writes; write the client endpoints",
		Description: "Besides verify.json and verify.junit.xml, verify writes <report-dir>/" + stage.EndpointsName + ": every master and\n" +
			"replica clients can reach (address, server, node id, slots; a replica lists its master's address and\n" +
			"slots), the cluster name and when it was taken. In GitHub Actions the outputs endpoints-file, masters\n" +
			"and replicas (comma-separated host:port lists) carry it to later steps.",
		Flags: []cli.Flag{
			boolFlag("no-canary", "skip the canary writes and reads"),
		},
		Action: func(c *cli.Context) error {
			return r.runStage(c, "verify", func(ctx context.Context, c *cli.Context, env stage.Env) (stage.Result, error) {
				return stage.Verify(ctx, env, stage.VerifyInput{
					NoCanary:      c.Bool("no-canary"),
					EndpointsFile: filepath.Join(c.String(flagReportDir), stage.EndpointsName),
				})
			})
		},
	}
}
