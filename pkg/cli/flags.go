package cli

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// envName returns the environment variable a flag reads: SLOTSHIFT_<FLAG>.
func envName(flag string) string {
	return "SLOTSHIFT_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func stringFlag(name, usage, value string) *cli.StringFlag {
	return &cli.StringFlag{Name: name, Usage: usage, Value: value, EnvVars: []string{envName(name)}}
}

func boolFlag(name, usage string) *cli.BoolFlag {
	return &cli.BoolFlag{Name: name, Usage: usage, EnvVars: []string{envName(name)}}
}

func intFlag(name, usage string, value int) *cli.IntFlag {
	return &cli.IntFlag{Name: name, Usage: usage, Value: value, EnvVars: []string{envName(name)}}
}

// Global flag names. They are accepted before or after the command name.
const (
	flagInventory = "inventory"
	flagReportDir = "report-dir"
	flagLogFormat = "log-format"
	flagLogLevel  = "log-level"
)

// globalFlags returns fresh flag values (urfave/cli flags hold state, so each
// command gets its own copies).
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagInventory, Aliases: []string{"i"}, Usage: "inventory file (YAML or JSON); inline text may come in SLOTSHIFT_INVENTORY instead", EnvVars: []string{"SLOTSHIFT_INVENTORY_FILE"}},
		stringFlag(flagReportDir, "directory for <stage>.json and <stage>.junit.xml", "slotshift-reports"),
		stringFlag(flagLogFormat, "log format: text or json (json: every stderr line is a JSON record)", "text"),
		stringFlag(flagLogLevel, "log level: debug, info, warn or error (on a terminal, human lines stand for info records)", "info"),
	}
}

// globalTakesValue lists the global flags that take a value, for moving
// them after the command name.
var globalTakesValue = map[string]bool{flagInventory: true, "i": true, flagReportDir: true, flagLogFormat: true, flagLogLevel: true}

// hoistGlobals moves global flags written before the command name to just
// after the command path ("slotshift --report-dir out validate" becomes
// "slotshift validate --report-dir out"), so that every command sees them in
// its own flag set and both spellings behave the same.
func hoistGlobals(args []string, app *cli.App) []string {
	if len(args) < 2 {
		return args
	}
	var globals []string
	i := 1
	for i < len(args) {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			break
		}
		name := strings.TrimLeft(a, "-")
		name, _, hasValue := strings.Cut(name, "=")
		if !globalTakesValue[name] {
			return args // --help, --version, or unknown: leave it to urfave/cli
		}
		globals = append(globals, a)
		if !hasValue && i+1 < len(args) {
			globals = append(globals, args[i+1])
			i++
		}
		i++
	}
	if len(globals) == 0 || i >= len(args) {
		return args
	}
	// The command path: the command and, when it has subcommands, the
	// subcommand that follows.
	end := i + 1
	if cmd := app.Command(args[i]); cmd != nil && len(cmd.Subcommands) > 0 && end < len(args) {
		if cmd.Command(args[end]) != nil {
			end++
		}
	}
	out := append([]string{}, args[0])
	out = append(out, args[i:end]...)
	out = append(out, globals...)
	return append(out, args[end:]...)
}
