package cli

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/slotshift/slotshift/pkg/stage"
)

func (r *runner) provisionCommand() *cli.Command {
	return &cli.Command{
		Name:  "provision",
		Usage: "install and configure the inventory's Redis processes over SSH/SFTP",
		Flags: []cli.Flag{
			boolFlag("dry-run", "connect and compare; print a diff per file and the commands that would run; change nothing"),
			boolFlag("allow-restart", "restart running nodes whose settings cannot be changed live"),
			boolFlag("trust-on-first-use", "accept an unknown host key and report its fingerprint (never a changed one)"),
			stringFlag("ssh-key-file", "private key file (instead of SLOTSHIFT_SSH_KEY)", ""),
			stringFlag("known-hosts-file", "known_hosts file (instead of SLOTSHIFT_SSH_KNOWN_HOSTS)", ""),
		},
		Action: func(c *cli.Context) error {
			return r.runStage(c, "provision", func(ctx context.Context, c *cli.Context, env stage.Env) (stage.Result, error) {
				return stage.Provision(ctx, env, stage.ProvisionInput{
					DryRun:          c.Bool("dry-run"),
					AllowRestart:    c.Bool("allow-restart"),
					TrustOnFirstUse: c.Bool("trust-on-first-use"),
				})
			})
		},
	}
}
