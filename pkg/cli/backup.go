package cli

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/slotshift/slotshift/pkg/stage"
)

func (r *runner) backupCommand() *cli.Command {
	return &cli.Command{
		Name:  "backup",
		Usage: "BGSAVE every replica (or master), copy the RDB files off, check them with redis-check-rdb, write a manifest",
		Description: "Each run writes <output>/<cluster>-<UTC time>/ holding one <server>-<port>.rdb per node and\n" +
			"manifest.json (node, role, slots, size, SHA-256, LASTSAVE, Redis version, good or bad).\n" +
			"Files are copied over SFTP with the inventory's ssh settings, or from the local file system\n" +
			"when --transfer local, or with --transfer auto (the default) when the server's address is\n" +
			"loopback (a sandbox). redis-check-rdb (Debian: redis-tools) must be installed where slotshift\n" +
			"runs, at a version that reads the servers' RDB format.",
		Flags: []cli.Flag{
			stringFlag("output", "directory each run writes its own subdirectory into", stage.DefaultBackupOutput),
			boolFlag("masters", "back up the masters instead of the replicas"),
			&cli.DurationFlag{Name: "timeout", Usage: "bound for each node's save", Value: stage.DefaultBackupTimeout, EnvVars: []string{envName("timeout")}},
			stringFlag("transfer", "how files are copied: auto (local for loopback addresses, else sftp), sftp or local", stage.TransferAuto),
			intFlag("parallel", "nodes saved and copied at once (each BGSAVE forks)", stage.DefaultBackupParallel),
			stringFlag("redis-check-rdb", "the RDB checker program", "redis-check-rdb"),
			stringFlag("ssh-key-file", "private key file (instead of SLOTSHIFT_SSH_KEY)", ""),
			stringFlag("known-hosts-file", "known_hosts file (instead of SLOTSHIFT_SSH_KNOWN_HOSTS)", ""),
		},
		Action: func(c *cli.Context) error {
			return r.runStage(c, "backup", func(ctx context.Context, c *cli.Context, env stage.Env) (stage.Result, error) {
				return stage.Backup(ctx, env, stage.BackupInput{
					Output:   c.String("output"),
					Masters:  c.Bool("masters"),
					Timeout:  c.Duration("timeout"),
					Transfer: c.String("transfer"),
					Parallel: c.Int("parallel"),
					CheckRDB: c.String("redis-check-rdb"),
				})
			})
		},
	}
}
