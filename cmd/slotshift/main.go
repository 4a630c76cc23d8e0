// Command slotshift runs a Redis Cluster's life-cycle as non-interactive
// pipeline stages: validate, provision, join, rebalance, verify.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/slotshift/slotshift/pkg/cli"
)

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	err := cli.Run(ctx, os.Args, cli.IO{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Terminal: isTerminal(os.Stderr)})
	stop()
	code := cli.ExitCode(err)
	var ee *cli.ExitError
	if err != nil && (!errors.As(err, &ee) || (ee.Err != nil && !ee.Reported)) && code != cli.CodeFail && code != cli.CodeHeld {
		fmt.Fprintf(os.Stderr, "slotshift: %v\n", err)
	}
	os.Exit(code)
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
