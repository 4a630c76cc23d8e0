package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// measureEnv, when set, turns this program into the measuring wrapper: it
// runs its arguments as a command and writes a measurement (JSON) to the
// file the variable names.
//
// Why a wrapper: on Linux a child's ru_maxrss starts at the peak RSS of
// the process that started it, because the exec replaces a memory image
// shared with (vfork) or copied from that parent. Started straight from the
// benchmark, which has held a million keys in memory, even /bin/true
// "peaks" at the benchmark's size. The wrapper is a fresh, small process,
// so its child's ru_maxrss is the child's own peak, biased by at most the
// wrapper's own resident size, which it records as BiasKB.
const measureEnv = "SLOTSHIFT_BENCH_MEASURE_OUT"

// measurement is what the wrapper reports about the command it ran.
type measurement struct {
	// Seconds is the command's wall time, from just before it started
	// until it was reaped.
	Seconds float64 `json:"seconds"`
	// MaxRSSKB is the command's ru_maxrss, KiB.
	MaxRSSKB int64 `json:"max_rss_kb"`
	// BiasKB is the wrapper's own peak RSS (VmHWM) when it started the
	// command: an upper bound of what MaxRSSKB may include that is not the
	// command's.
	BiasKB int64 `json:"bias_kb"`
	// CPUSeconds is the command's user + system CPU time.
	CPUSeconds float64 `json:"cpu_s"`
	ExitCode   int     `json:"exit_code"`
	// Err says why the command could not be started or waited for.
	Err string `json:"error,omitempty"`
}

// measureMain is the wrapper's main: it runs argv with this process's
// stdio and environment (minus measureEnv), forwards SIGINT and SIGTERM to
// it, writes the measurement to outPath and exits with the command's code.
func measureMain(outPath string, argv []string) int {
	m := measurement{ExitCode: 127}
	defer func() {
		b, _ := json.Marshal(m)
		_ = os.WriteFile(outPath, b, 0o600)
	}()
	if len(argv) == 0 {
		m.Err = "no command given"
		return m.ExitCode
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, measureEnv+"=") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The command must not outlive the wrapper, however the wrapper ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	m.BiasKB = selfHWM()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		m.Err = err.Error()
		return m.ExitCode
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	m.Seconds = time.Since(start).Seconds()
	close(done)
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			m.MaxRSSKB = ru.Maxrss // KiB on Linux
			m.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		}
		m.ExitCode = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			m.ExitCode = 128 + int(ws.Signal())
		}
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		m.Err = err.Error()
	}
	return m.ExitCode
}

// selfHWM returns this process's peak RSS (VmHWM) in KiB, 0 when unknown.
func selfHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// measured prepares cmd (its Path, Args and Env already set) to run under
// the measuring wrapper: it becomes `<this program> <cmd.Args...>` with
// the measurement written to outPath. Cancelling ctx sends SIGINT, which the
// wrapper forwards (slotshift then stops at a slot boundary), and after 10 s
// kills the wrapper, which takes its command with it.
func measured(ctx context.Context, self, outPath string, args []string, env []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append(env, measureEnv+"="+outPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// readMeasurement reads what the wrapper wrote to path.
func readMeasurement(path string) (measurement, error) {
	var m measurement
	b, err := os.ReadFile(path)
	if err != nil {
		return m, fmt.Errorf("measurement %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("measurement %s: %w", path, err)
	}
	return m, nil
}
