// Command bench times a 3→4 master rebalance of a loaded Redis Cluster with
// redis-cli (at its defaults and with --cluster-pipeline 1000) and with
// slotshift (at the seed's gates and at its default ones), on identical
// fresh clusters of local redis-server processes, each under the same
// client load. It prints medians of time and client impact (p99 before and
// during, errors, lost writes), ratios against goals, slotshift's peak RSS,
// a floor (loading the moved keys with redis-cli --pipe) and the planner's
// time on a 1000-master topology; -scale adds a run on a 50+ master
// cluster. `make bench` runs it; see bench/README.md.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/sandbox"
)

// config is the parsed command line.
type config struct {
	keys          int
	runs          int
	modes         []string
	jsonPath      string
	nodeTimeoutMS int
	slotshiftArgs string
	slotshiftBin  string
	runTimeout    time.Duration
	keepDir       string
	verbose       bool
	// cpuProfileDir, when set, is where each slotshift run writes its CPU
	// profile (SLOTSHIFT_CPUPROFILE).
	cpuProfileDir string
	// idle is how long the idle mode sleeps under the client load.
	idle time.Duration
	// load runs the client load around every timed rebalance.
	load bool
	// replicas gives each loaded master a replica.
	replicas bool
	// seedHold and seedAbort are the seed mode's variation hold (the
	// seed's 10 unless given) and abort, percent.
	seedHold, seedAbort float64
	// scale, when > 0, also runs the at-scale scenario with that many
	// loaded masters and scaleKeys keys.
	scale     int
	scaleKeys int
	// server, "name=/path", runs the atomic-slot-migration benchmark on
	// that server build instead (see asm.go).
	server string
}

func main() {
	if out := os.Getenv(measureEnv); out != "" {
		os.Exit(measureMain(out, os.Args[1:]))
	}
	if os.Getenv(bareEnv) != "" {
		os.Exit(bareMain(os.Args[1:]))
	}
	if d := os.Getenv(watchEnv); d != "" {
		os.Exit(watchMain(d, os.Args[1:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its exit code: 0 finished, 1 a run failed or could not
// be measured, 2 bad flags, 130 interrupted.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// go-redis' own pool events (the load's and the harness's clients)
	// belong with -v, not among the report's lines, as in slotshift.
	admin.RouteDriverLog(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, restore the default so that a second Ctrl-C
	// ends the program at once (nodes die with it: they run with a
	// parent-death signal).
	go func() { <-ctx.Done(); stop() }()

	if cfg.server != "" {
		b := &bench{cfg: cfg, log: log}
		if err := b.runASM(ctx, stdout); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			if ctx.Err() != nil {
				return 130
			}
			return 1
		}
		return 0
	}
	b := &bench{cfg: cfg, log: log, res: &results{
		StartedAt: time.Now(), Keys: cfg.keys, Runs: cfg.runs, NodeTimeoutMS: cfg.nodeTimeoutMS, Replicas: cfg.replicas,
	}}
	err = b.run(ctx)
	b.res.Machine.LoadAvgEnd = loadAvg()
	b.res.Machine.endSteal(time.Since(b.res.StartedAt))
	b.res.summarise()
	if err != nil {
		b.res.Failure = err.Error()
		if ctx.Err() != nil {
			b.res.Failure = "interrupted (" + err.Error() + ")"
		}
	}
	b.res.print(stdout)
	if cfg.jsonPath != "" {
		if jerr := b.res.writeJSON(cfg.jsonPath); jerr != nil {
			fmt.Fprintln(stderr, "bench:", jerr)
			if err == nil {
				return 1
			}
		}
	}
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil:
		return 130
	default:
		return 1
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.keys, "keys", 1000000, "keys loaded into each 3-master cluster")
	fs.IntVar(&cfg.runs, "runs", 3, "timed runs per mode (the median is reported)")
	modes := fs.String("modes", defaultModes, "comma-separated modes: cli (redis-cli defaults), cli1000 (--cluster-pipeline 1000), seed (slotshift at the seed's gates), slotshift or fast (slotshift at its default gates), bare (MIGRATE with nothing around it), idle (nothing moves: the impact measurement's own spread), watch (nothing moves; slotshift's gate probes run for -idle)")
	fs.DurationVar(&cfg.idle, "idle", 10*time.Second, "how long the idle and watch modes run under the client load")
	fs.IntVar(&cfg.scale, "scale", 0, "also rebalance a cluster of N loaded masters + a pair of empty ones (slotshift seed, no load): CPU, RSS, PINGs per node; 0 = off; with -modes '' only this")
	fs.IntVar(&cfg.scaleKeys, "scale-keys", 100000, "keys loaded into the at-scale cluster")
	fs.Float64Var(&cfg.seedHold, "seed-hold", seedHoldPercent, "the seed mode's (and the at-scale run's) latency_variation_percent hold: the seed's 10, or another budget to see what it trades")
	fs.Float64Var(&cfg.seedAbort, "seed-abort", inventory.DefaultLatencyVariation.Abort, "the seed mode's (and the at-scale run's) latency_variation_percent abort")
	fs.BoolVar(&cfg.replicas, "replicas", true, "give each loaded master a replica, as production clusters run (slotshift lists keys there)")
	fs.BoolVar(&cfg.load, "load", true, "run a fixed client load around every rebalance and report its latency, errors and lost writes")
	fs.StringVar(&cfg.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&cfg.slotshiftArgs, "slotshift-args", "", "extra flags for slotshift rebalance, split on spaces (e.g. \"--concurrency 2\")")
	fs.IntVar(&cfg.nodeTimeoutMS, "node-timeout-ms", 1000, "cluster-node-timeout of every node, ms (short so that fresh clusters converge fast)")
	fs.StringVar(&cfg.slotshiftBin, "bin", "", "slotshift binary to run (default: build ./cmd/slotshift into bin/slotshift first)")
	fs.DurationVar(&cfg.runTimeout, "run-timeout", 15*time.Minute, "give up on one timed rebalance after this long (the seed profile, resting 128× the time each MIGRATE takes and up to 512× for a moment, can need minutes)")
	fs.StringVar(&cfg.keepDir, "keep", "", "copy every run's tool output, slotshift reports and client load seconds to DIR/round<N>-<mode>/")
	fs.BoolVar(&cfg.verbose, "v", false, "log every step")
	fs.StringVar(&cfg.cpuProfileDir, "cpuprofile", "", "write a CPU profile of every slotshift run to DIR/cpu-<pid>.prof")
	fs.StringVar(&cfg.server, "server", "", "name=/path/to/server: run the anchor's ASM workload (3 masters with -keys keys to 5, replicas) on that build with -modes cli,cli-atomic,legacy,atomic (default cli,legacy,atomic)")
	err := fs.Parse(args)
	if err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.keys < 1000 {
		return cfg, fmt.Errorf("-keys %d: want at least 1000 (so that every master holds keys)", cfg.keys)
	}
	if cfg.runs < 1 {
		return cfg, fmt.Errorf("-runs %d: want at least 1", cfg.runs)
	}
	if cfg.idle < time.Second {
		return cfg, fmt.Errorf("-idle %v: want at least 1s (the impact is measured over whole seconds)", cfg.idle)
	}
	if cfg.nodeTimeoutMS < 100 {
		return cfg, fmt.Errorf("-node-timeout-ms %d: want at least 100", cfg.nodeTimeoutMS)
	}
	if cfg.seedHold <= 0 || cfg.seedAbort <= cfg.seedHold {
		return cfg, fmt.Errorf("-seed-hold %g, -seed-abort %g: want 0 < hold < abort", cfg.seedHold, cfg.seedAbort)
	}
	if cfg.scale != 0 && (cfg.scale < minScaleMasters || cfg.scale > maxScaleMasters) {
		return cfg, fmt.Errorf("-scale %d: want %d..%d masters (or 0 = off)", cfg.scale, minScaleMasters, maxScaleMasters)
	}
	if cfg.scale > 0 && cfg.scaleKeys < 1000 {
		return cfg, fmt.Errorf("-scale-keys %d: want at least 1000", cfg.scaleKeys)
	}
	if cfg.scale > 0 && strings.TrimSpace(*modes) == "" {
		return cfg, nil // the at-scale scenario only
	}
	if cfg.server != "" {
		if *modes == defaultModes {
			*modes = "cli,legacy,atomic"
		}
		cfg.modes, err = parseASMModes(*modes)
		return cfg, err
	}
	m, err := parseModes(*modes)
	if err != nil {
		return cfg, err
	}
	cfg.modes = m
	return cfg, nil
}

// bench is one benchmark run.
type bench struct {
	cfg config
	log *slog.Logger
	res *results
	// password protects every node; random per run and passed to children
	// only through their environment.
	password string
}

func (b *bench) run(ctx context.Context) (err error) {
	if _, err := sandbox.LookBin(""); err != nil {
		return err
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return fmt.Errorf("redis-cli not found (apt-get install redis-tools): %w", err)
	}
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return fmt.Errorf("password: %w", err)
	}
	b.password = hex.EncodeToString(pw)

	bin := ""
	if slices.Contains(b.cfg.modes, modeSlotshift) || slices.Contains(b.cfg.modes, modeSeed) || b.cfg.scale > 0 {
		var err error
		if bin, err = b.slotshiftBinary(ctx); err != nil {
			return err
		}
	}
	b.res.Machine = machineFacts(bin)
	for _, m := range b.cfg.modes {
		b.res.Modes = append(b.res.Modes, modeResult{Mode: m, Label: modeLabels[m]})
	}

	if err := b.planBench(); err != nil {
		return err
	}

	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program (to run tools under the measuring wrapper): %w", err)
	}
	rc := runConfig{self: self, slotshiftBin: bin, slotshiftArgs: strings.Fields(b.cfg.slotshiftArgs), nodeTimeoutMS: b.cfg.nodeTimeoutMS, timeout: b.cfg.runTimeout,
		cpuProfileDir: b.cfg.cpuProfileDir, idle: b.cfg.idle}
	if slices.Contains(b.cfg.modes, modeSeed) || b.cfg.scale > 0 {
		var note string
		rc.seedGates, note = seedGates(b.cfg.seedHold, b.cfg.seedAbort)
		if note != "" {
			b.res.Warnings = append(b.res.Warnings, note)
			b.log.Warn("seed gates", "note", note)
		}
		b.res.SeedGates = strings.TrimSpace(rc.seedGates)
		if rc.seedGates != "" {
			b.res.SeedHold = b.cfg.seedHold
		}
	}
	for round := 1; round <= b.cfg.runs; round++ {
		for i, mode := range b.cfg.modes {
			tr, err := b.timedRound(ctx, round, mode, rc)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("round %d, %s: %w", round, modeLabels[mode], err)
				}
				// One failed run (an abort, a wrong cluster) is a result
				// too: record it and go on, so the other modes and rounds
				// are still measured in the same run.
				b.res.Modes[i].Failed = append(b.res.Modes[i].Failed, failedRun{Round: round, Seconds: tr.Seconds, Error: err.Error(), Impact: tr.Impact})
				b.log.Warn("run failed", "round", round, "mode", modeLabels[mode], "err", err)
				continue
			}
			b.res.Modes[i].Runs = append(b.res.Modes[i].Runs, tr)
			b.log.Info("run", "round", round, "mode", modeLabels[mode], "seconds", fmt.Sprintf("%.2f", tr.Seconds),
				"keys_moved", tr.KeysMoved, "new_master_slots", tr.NewMasterSlots, "max_rss_mb", tr.MaxRSSKB/1024, "holds", tr.Holds)
			if im := tr.Impact; im != nil {
				b.log.Info("impact", "round", round, "mode", modeLabels[mode], "p99_before_ms", fmt.Sprintf("%.2f", im.BeforeP99MS), "p99_after_ms", fmt.Sprintf("%.2f", im.AfterP99MS),
					"p99_during_ms", fmt.Sprintf("%.2f", im.DuringP99MS), "max_during_ms", fmt.Sprintf("%.1f", im.DuringMaxMS),
					"errors", errorsText(im.Errors), "lost", im.Lost, "stale", im.Stale)
			}
		}
	}
	b.res.summarise()
	if n := b.res.failedRuns(); n > 0 {
		defer func() {
			if err == nil {
				err = fmt.Errorf("%d run(s) failed (see failed runs above)", n)
			}
		}()
	}
	if err := b.floor(ctx); err != nil {
		return err
	}
	if b.cfg.scale > 0 {
		return b.scale(ctx, rc, b.cfg.scale)
	}
	return nil
}

// timedRound builds a fresh cluster, times one rebalance in mode, verifies
// the result and tears the cluster down, also when anything fails.
func (b *bench) timedRound(ctx context.Context, round int, mode string, rc runConfig) (timedRun, error) {
	start := time.Now()
	c, err := buildCluster(ctx, b.log, b.password, b.cfg.keys, b.cfg.nodeTimeoutMS, b.cfg.replicas)
	if err != nil {
		return timedRun{}, fmt.Errorf("build cluster: %w", err)
	}
	defer c.close()
	b.log.Debug("cluster ready", "mode", mode, "dir", c.dir, "took", time.Since(start).Round(time.Millisecond))

	runner := runMode
	if b.cfg.load {
		runner = runUnderLoad
	}
	tr, err := runner(ctx, c, mode, rc)
	if b.cfg.keepDir != "" {
		dst := filepath.Join(b.cfg.keepDir, fmt.Sprintf("round%d-%s", round, mode))
		if kerr := keepOutputs(c.dir, mode, dst); kerr != nil {
			b.log.Warn("keep outputs", "dir", dst, "err", kerr)
		}
	}
	if err != nil || mode == modeIdle || mode == modeWatch {
		// The idle and watch modes moved nothing: there is no rebalance to verify;
		// the load's read-back still counts its lost writes.
		return tr, err
	}
	v, err := c.verify(ctx)
	if err != nil {
		return tr, fmt.Errorf("verify: %w", err)
	}
	tr.KeysMoved, tr.NewMasterSlots = v.KeysMoved, v.NewMasterSlots
	if len(v.Problems) > 0 {
		return tr, fmt.Errorf("the cluster is wrong after the rebalance (a fast wrong answer is not a result):\n  - %s",
			strings.Join(v.Problems, "\n  - "))
	}
	// The report also counts the load's keys that moved (deleted since).
	allowed := int64(0)
	if tr.Impact != nil {
		allowed = loadKeys
	}
	if extra := tr.ReportKeysMoved - tr.KeysMoved; (mode == modeSlotshift || mode == modeSeed) && (extra < 0 || extra > allowed) {
		b.res.Warnings = append(b.res.Warnings, fmt.Sprintf("%s: slotshift's report says %d keys moved, the new master holds %d",
			modeLabels[mode], tr.ReportKeysMoved, tr.KeysMoved))
	}
	return tr, nil
}

// slotshiftBinary returns the slotshift binary: -bin when given, else a
// fresh build of this checkout (a stale bin/slotshift would measure old
// code, or fail on flags it does not know; go's build cache keeps an
// unchanged build quick).
func (b *bench) slotshiftBinary(ctx context.Context) (string, error) {
	bin := b.cfg.slotshiftBin
	if bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("-bin: %w", err)
		}
		return bin, nil
	}
	bin = filepath.Join("bin", "slotshift")
	b.log.Info("building slotshift", "bin", bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/slotshift")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -o %s ./cmd/slotshift: %w\n%s", bin, err, out)
	}
	return bin, nil
}

// planBench runs the planner benchmark on two 1000-master topologies: one
// new master joining 999 (few moves), and 500 new masters joining 500 (half
// of every slot moves).
func (b *bench) planBench() error {
	for _, sc := range []struct {
		name    string
		holders int
	}{
		{"999 holding all slots + 1 new", planMastersTotal - 1},
		{"500 holding all slots + 500 new", planMastersTotal / 2},
	} {
		r, err := benchPlanner(sc.name, planMastersTotal, sc.holders, planIterations)
		if err != nil {
			return err
		}
		b.res.Plan = append(b.res.Plan, r)
		b.log.Info("plan", "scenario", sc.name, "median_ms", fmt.Sprintf("%.2f", r.MedianMS), "slots", r.SlotsMoved)
	}
	return nil
}

// floor times loading as many keys as the rebalance moved (slotshift's
// median, else the first measured mode's) into an empty node with
// redis-cli --pipe, once per round.
func (b *bench) floor(ctx context.Context) error {
	n := int64(0)
	if m := b.res.mode(modeSlotshift); m != nil {
		n = m.MedianKeysMoved
	} else if len(b.res.Modes) > 0 && len(b.res.Modes[0].Runs) > 0 {
		n = b.res.Modes[0].MedianKeysMoved
	}
	if n <= 0 {
		return nil
	}
	dir, err := os.MkdirTemp("", "slotshift-bench-resp-")
	if err != nil {
		return fmt.Errorf("floor temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "set.resp")
	if err := writeRESPFile(file, int(n)); err != nil {
		return err
	}
	b.res.Floor = &floorResult{Keys: int(n)}
	for round := 1; round <= b.cfg.runs; round++ {
		s, err := runFloor(ctx, b.log, b.password, int(n), b.cfg.nodeTimeoutMS, file)
		if err != nil {
			return fmt.Errorf("floor, round %d: %w", round, err)
		}
		b.res.Floor.RunsS = append(b.res.Floor.RunsS, s)
		b.log.Info("floor", "round", round, "keys", n, "seconds", fmt.Sprintf("%.2f", s))
	}
	return nil
}

// keepOutputs copies a run's tool log, measurement and slotshift reports
// (never the inventory or redis.conf, whatever they hold) from the cluster
// dir to dst.
func keepOutputs(dir, mode, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	files := []string{mode + ".log", mode + ".measure.json", mode + ".load.json"}
	reports, _ := filepath.Glob(filepath.Join(dir, "reports", "*"))
	for _, r := range reports {
		rel, _ := filepath.Rel(dir, r)
		files = append(files, rel)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue // a tool that failed early may not have written it
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
