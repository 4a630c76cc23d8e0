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
	err := cli.Run(ctx, os.Args, cli.IO{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	code := cli.ExitCode(err)
	var ee *cli.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.Err != nil) && code != cli.CodeFail && code != cli.CodeHeld {
		fmt.Fprintf(os.Stderr, "slotshift: %v\n", err)
	}
	os.Exit(code)
}
