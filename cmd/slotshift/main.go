// Command slotshift runs a Redis Cluster's life-cycle as non-interactive
// pipeline stages: validate, provision, join, rebalance, verify.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"

	"github.com/slotshift/slotshift/pkg/cli"
)

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	stopProfile := profile(os.Getenv("SLOTSHIFT_CPUPROFILE"))
	ctx, stop := cli.SignalContext(context.Background())
	err := cli.Run(ctx, os.Args, cli.IO{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Terminal: isTerminal(os.Stderr)})
	stop()
	stopProfile()
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

// memoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT
// sets another. slotshift runs beside the nodes it protects, and a
// cluster observation holds every node's view of every node, each with a
// 2 KB slot bitmap: 23 MB at 104 nodes, made afresh on every convergence
// poll. With the default GOGC alone the heap doubled that garbage before
// collecting, and the tool peaked at 124 MB. Under the limit the
// collector runs sooner; the runtime caps its CPU when the live heap
// itself is larger.
const memoryLimit = 64 << 20

// profile writes a CPU profile of the whole run to path, when set, or to
// cpu-<pid>.prof in it when path is a directory (the benchmark runs the
// tool several times): it shows what the tool spends its CPU on. It
// returns the function that ends the profile.
func profile(path string) func() {
	if path == "" {
		return func() {}
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, fmt.Sprintf("cpu-%d.prof", os.Getpid()))
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "slotshift: SLOTSHIFT_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}
