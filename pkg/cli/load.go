package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/slotshift/slotshift/pkg/load"
	"github.com/slotshift/slotshift/pkg/stage"
)

func (r *runner) loadCommand() *cli.Command {
	return &cli.Command{
		Name:  "load",
		Usage: "drive client load through a cluster client, then read every acknowledged write back (lost or stale keys fail)",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "duration", Usage: "how long the load runs", Value: load.DefaultDuration, EnvVars: []string{envName("duration")}},
			intFlag("rate", "operations per second over all clients (0 = as fast as they go)", 0),
			intFlag("clients", "concurrent clients, each with one operation in flight", load.DefaultClients),
			intFlag("keys", "distinct keys (the generator keeps 8 bytes per key)", load.DefaultKeys),
			stringFlag("value-size", "value size in bytes: N, or MIN-MAX for sizes in between", strconv.Itoa(load.DefaultValueSize)),
			intFlag("read-percent", "share of reads among operations, 0-100", 50),
			stringFlag("prefix", "prefix of every key", load.DefaultPrefix),
			&cli.DurationFlag{Name: "verify-timeout", Usage: "bound for reading every key back (also after an interrupt)", Value: load.DefaultVerifyTimeout, EnvVars: []string{envName("verify-timeout")}},
			boolFlag("keep-keys", "leave the keys in the cluster after the read-back"),
		},
		Action: func(c *cli.Context) error {
			return r.runStage(c, "load", func(ctx context.Context, c *cli.Context, env stage.Env) (stage.Result, error) {
				in, err := loadInput(c)
				if err != nil {
					return stage.Result{}, err
				}
				return stage.Load(ctx, env, in)
			})
		},
	}
}

func loadInput(c *cli.Context) (stage.LoadInput, error) {
	lo, hi, err := parseValueSize(c.String("value-size"))
	if err != nil {
		return stage.LoadInput{}, &stage.UsageError{Err: err}
	}
	if d := c.Duration("duration"); d <= 0 {
		return stage.LoadInput{}, stage.Usagef("--duration %s: want > 0", d)
	}
	return stage.LoadInput{Options: load.Options{
		Duration:      c.Duration("duration"),
		Rate:          c.Int("rate"),
		Clients:       c.Int("clients"),
		Keys:          c.Int("keys"),
		ValueMin:      lo,
		ValueMax:      hi,
		ReadPercent:   c.Int("read-percent"),
		Prefix:        c.String("prefix"),
		VerifyTimeout: c.Duration("verify-timeout"),
		KeepKeys:      c.Bool("keep-keys"),
	}}, nil
}

// parseValueSize reads "N" or "MIN-MAX" (bytes).
func parseValueSize(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := lo, error(nil)
	if isRange {
		hi, err2 = strconv.Atoi(strings.TrimSpace(b))
	}
	if err1 != nil || err2 != nil || lo < 1 || hi < lo {
		return 0, 0, fmt.Errorf("--value-size %q: want N or MIN-MAX bytes, 1 <= MIN <= MAX", s)
	}
	return lo, hi, nil
}
