package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ASM benchmark modes (-server): the server's CLI at its defaults, Valkey's
// CLI with --cluster-use-atomic-slot-migration, slotshift's legacy mover,
// slotshift's atomic mover.
const (
	asmModeCLI       = "cli"
	asmModeCLIAtomic = "cli-atomic"
	asmModeLegacy    = "legacy"
	asmModeAtomic    = "atomic"
)

// asmRunResult is one timed run of the ASM benchmark.
type asmRunResult struct {
	Mode    string
	Seconds float64
	// MoveSeconds is slotshift's batch span (the time moving slots,
	// without start-up, observation and planning); 0 for the CLI.
	MoveSeconds float64
	Mover       string
	Check       asmCheck
	Impact      *impact
}

// defaultModes is -modes' default for the 3->4 benchmark.
const defaultModes = "cli,cli1000,seed,slotshift,bare,idle,watch"

// parseASMModes splits and checks -modes for -server.
func parseASMModes(s string) ([]string, error) {
	var out []string
	for _, m := range strings.Split(s, ",") {
		switch m = strings.TrimSpace(m); m {
		case asmModeCLI, asmModeCLIAtomic, asmModeLegacy, asmModeAtomic:
			if containsMode(out, m) {
				return nil, fmt.Errorf("-modes: %q given twice", m)
			}
			out = append(out, m)
		case "":
		default:
			return nil, fmt.Errorf("-modes: unknown mode %q with -server (want cli, cli-atomic, legacy, atomic)", m)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-modes: no mode given")
	}
	return out, nil
}

// parseServer splits -server name=/path.
func parseServer(s string) (name, bin string, err error) {
	name, bin, ok := strings.Cut(s, "=")
	if !ok || name == "" || bin == "" {
		return "", "", fmt.Errorf("-server %q: want name=/path/to/server (e.g. valkey=/opt/valkey/src/valkey-server)", s)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", "", fmt.Errorf("-server %s: %w", s, err)
	}
	return name, bin, nil
}

// runASM runs the anchor's workload (3 loaded masters to 5, replicas
// included) cfg.runs times per ASM mode, interleaved, and once more with
// the atomic mover under the client load when cfg.load is set.
func (b *bench) runASM(ctx context.Context, stdout io.Writer) error {
	name, bin, err := parseServer(b.cfg.server)
	if err != nil {
		return err
	}
	slotshift, err := b.slotshiftBinary(ctx)
	if err != nil {
		return err
	}
	cli := filepath.Join(filepath.Dir(bin), strings.Replace(filepath.Base(bin), "-server", "-cli", 1))
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b.password = fmt.Sprintf("bench-%d-0123456789", time.Now().UnixNano())
	fmt.Fprintf(stdout, "ASM benchmark: %s (%s), %d keys, 3 -> 5 masters with replicas, %d run(s) per mode; load average %.2f\n",
		name, bin, b.cfg.keys, b.cfg.runs, loadAvg())
	var all []asmRunResult
	for round := 1; round <= b.cfg.runs; round++ {
		for _, mode := range b.cfg.modes {
			r, err := b.asmRound(ctx, bin, cli, slotshift, self, mode, false)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round, mode, err)
			}
			fmt.Fprintf(stdout, "round %d %-10s %8.3fs  move %6.3fs  mover %-10s  keys %d masters, %d replicas, %d read back, slots %d..%d  (load avg %.2f)\n",
				round, mode, r.Seconds, r.MoveSeconds, r.Mover, r.Check.MasterKeys, r.Check.ReplicaKeys, r.Check.ReadBack, r.Check.MinSlots, r.Check.MaxSlots, loadAvg())
			all = append(all, r)
		}
	}
	fmt.Fprintf(stdout, "\nmedians over %d run(s):\n", b.cfg.runs)
	for _, mode := range b.cfg.modes {
		var wall, move []float64
		for _, r := range all {
			if r.Mode == mode {
				wall, move = append(wall, r.Seconds), append(move, r.MoveSeconds)
			}
		}
		fmt.Fprintf(stdout, "  %-10s wall %8.3fs  move %7.3fs  runs %s\n", mode, median(wall), median(move), secondsList(wall))
	}
	if b.cfg.load && containsMode(b.cfg.modes, asmModeAtomic) {
		r, err := b.asmRound(ctx, bin, cli, slotshift, self, asmModeAtomic, true)
		if err != nil {
			return fmt.Errorf("atomic under load: %w", err)
		}
		im := r.Impact
		fmt.Fprintf(stdout, "\natomic under load: %.3fs (move %.3fs); client p99 before %.2f ms, after %.2f ms, during %.2f ms, ratio %.2f, max %.2f ms; %d ops, %d writes acknowledged, %d lost, %d stale, errors %v\n",
			r.Seconds, r.MoveSeconds, im.BeforeP99MS, im.AfterP99MS, im.DuringP99MS, im.Ratio, im.DuringMaxMS, im.Ops, im.WritesAcked, im.Lost, im.Stale, im.Errors)
	}
	fmt.Fprintf(stdout, "load average at the end %.2f\n", loadAvg())
	return nil
}

func containsMode(ms []string, m string) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// asmRound builds a fresh anchor cluster, times one rebalance in mode and
// checks the result.
func (b *bench) asmRound(ctx context.Context, bin, cli, slotshift, self, mode string, underLoad bool) (asmRunResult, error) {
	c, err := buildASMCluster(ctx, b.log, bin, b.password, b.cfg.keys, b.cfg.nodeTimeoutMS)
	if err != nil {
		return asmRunResult{}, fmt.Errorf("build cluster: %w", err)
	}
	defer c.close()
	var lr *loadRun
	if underLoad {
		if lr, err = startLoad(ctx, c.addrs(), c.password, b.cfg.runTimeout); err != nil {
			return asmRunResult{}, err
		}
		lr.rebStart = time.Since(lr.start)
	}
	r, err := b.asmTimed(ctx, c, cli, slotshift, self, mode)
	if lr != nil {
		lr.rebEnd = time.Since(lr.start)
		im, lerr := lr.stop()
		r.Impact = &im
		if err == nil {
			err = lerr
		}
	}
	if err != nil {
		return r, err
	}
	if r.Check, err = c.verifyASM(ctx); err != nil {
		return r, fmt.Errorf("check after %s: %w", mode, err)
	}
	return r, nil
}

// asmTimed runs one mode's command on c through the measuring wrapper.
func (b *bench) asmTimed(ctx context.Context, c *asmCluster, cli, slotshift, self, mode string) (asmRunResult, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.runTimeout)
	defer cancel()
	r := asmRunResult{Mode: mode}
	var args, env []string
	reports := filepath.Join(c.dir, "reports")
	switch mode {
	case asmModeCLI, asmModeCLIAtomic:
		args = []string{cli, "--cluster", "rebalance", c.nodes[0].Addr, "--cluster-use-empty-masters"}
		if mode == asmModeCLIAtomic {
			args = append(args, "--cluster-use-atomic-slot-migration")
		}
		env = childEnv("REDISCLI_AUTH=" + c.password)
	case asmModeLegacy, asmModeAtomic:
		inv := filepath.Join(c.dir, "inventory.yml")
		if err := os.WriteFile(inv, c.inventoryASM(b.cfg.nodeTimeoutMS), 0o600); err != nil {
			return r, err
		}
		args = append([]string{slotshift, "rebalance", "--inventory", inv, "--report-dir", reports, "--mover", mode}, strings.Fields(b.cfg.slotshiftArgs)...)
		env = childEnv(passwordEnv + "=" + c.password)
	default:
		return r, fmt.Errorf("unknown mode %q", mode)
	}
	logPath := filepath.Join(c.dir, mode+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return r, err
	}
	defer logFile.Close()
	mPath := filepath.Join(c.dir, mode+".measure.json")
	cmd := measured(ctx, self, mPath, args, env)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	runErr := cmd.Run()
	m, err := readMeasurement(mPath)
	if err != nil {
		return r, fmt.Errorf("%s: %w (run: %v)", strings.Join(args, " "), err, runErr)
	}
	r.Seconds = m.Seconds
	if runErr != nil || m.ExitCode != 0 || m.Err != "" {
		return r, fmt.Errorf("%s: exit code %d %s\n%s", strings.Join(args, " "), m.ExitCode, m.Err, tailFile(logPath, 25))
	}
	if mode == asmModeLegacy || mode == asmModeAtomic {
		rep, err := readRebalanceReport(filepath.Join(reports, "rebalance.json"))
		if err != nil {
			return r, fmt.Errorf("%w\n%s", err, tailFile(logPath, 25))
		}
		r.MoveSeconds, r.Mover = batchSpan(rep.Rebalance.Batches), rep.Rebalance.Mover
		if b.cfg.keepDir != "" {
			_ = keepOutputs(c.dir, mode, filepath.Join(b.cfg.keepDir, fmt.Sprintf("asm-%s-%d", mode, time.Now().UnixNano())))
		}
	}
	b.log.Debug("asm run", "mode", mode, "seconds", r.Seconds, "log", logPath, slog.String("mover", r.Mover))
	return r, nil
}
