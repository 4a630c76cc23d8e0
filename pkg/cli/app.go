package cli

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

// IO is the process's outside world, injected so tests can run the whole
// command line in-process.
type IO struct {
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Terminal says stderr is a terminal: people read it, so stages print
	// human lines instead of log records (see outputMode).
	Terminal bool
}

// Run parses args (args[0] is the program name) and runs the command. The
// returned error is mapped to an exit code by ExitCode; Run never exits the
// process itself.
func Run(ctx context.Context, args []string, sys IO) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(sys.Stderr, "slotshift: internal error: %v\n%s", r, debug.Stack())
			err = &ExitError{Code: CodeError, Err: fmt.Errorf("internal error: %v", r)}
		}
	}()
	app := newApp(sys)
	return app.RunContext(ctx, hoistGlobals(args, app))
}

func newApp(sys IO) *cli.App {
	a := &runner{io: sys}
	app := &cli.App{
		Name:    "slotshift",
		Usage:   "grow a Redis Cluster without downtime, one gated pipeline stage at a time",
		Version: Version,
		Description: "Stages read the inventory (--inventory, SLOTSHIFT_INVENTORY_FILE, or inline YAML/JSON in\n" +
			"SLOTSHIFT_INVENTORY) and write <report-dir>/<stage>.json and <stage>.junit.xml.\n" +
			"Secrets come only from environment variables: SLOTSHIFT_PASSWORD (or the inventory's\n" +
			"cluster.password_env), SLOTSHIFT_SSH_KEY, SLOTSHIFT_SSH_KEY_PASSPHRASE, SLOTSHIFT_SSH_KNOWN_HOSTS.\n\n" +
			"Exit codes: 0 passed, 1 failed, 2 usage or invalid inventory, 3 error, 75 held (retry later),\n" +
			"130/143 interrupted.",
		Writer:                 sys.Stdout,
		ErrWriter:              sys.Stderr,
		Flags:                  globalFlags(),
		Suggest:                true,
		UseShortOptionHandling: true,
		// urfave/cli must never call os.Exit: main maps errors to codes.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &ExitError{Code: CodeUsage, Err: err}
		},
		Commands: []*cli.Command{
			a.validateCommand(),
			a.provisionCommand(),
			a.joinCommand(),
			a.planCommand(),
			a.rebalanceCommand(),
			a.verifyCommand(),
			a.snapshotCommand(),
			a.sandboxCommand(),
			a.loadCommand(),
			a.monitoringCommand(),
			a.backupCommand(),
			a.failoverCommand(),
			versionCommand(sys),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return &ExitError{Code: CodeUsage, Err: fmt.Errorf("unknown command %q; see 'slotshift --help'", c.Args().First())}
			}
			_ = cli.ShowAppHelp(c)
			return &ExitError{Code: CodeUsage, Err: fmt.Errorf("no command given")}
		},
	}
	for _, cmd := range app.Commands {
		withGlobals(cmd)
	}
	return app
}

// withGlobals gives a command (and its subcommands) its own copies of the
// global flags and makes its usage errors exit 2.
func withGlobals(cmd *cli.Command) {
	cmd.Flags = append(cmd.Flags, globalFlags()...)
	cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return &ExitError{Code: CodeUsage, Err: err}
	}
	for _, sub := range cmd.Subcommands {
		withGlobals(sub)
	}
}

func versionCommand(sys IO) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(*cli.Context) error {
			fmt.Fprintf(sys.Stdout, "slotshift %s\n", Version)
			return nil
		},
	}
}
