package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// state is what a lab leaves on disk (lab.json) so that a later process
// can tear it down after its owner died without Close.
type state struct {
	ID     int    `json:"id"`
	Owner  int    `json:"owner"` // pid; 0 = kept until Down
	Bridge string `json:"bridge"`
	// OwnerStart is the owner's start time in clock ticks since boot, so
	// that a reused pid does not keep a stale lab alive.
	OwnerStart string      `json:"owner_start,omitempty"`
	Hosts      []hostState `json:"hosts"`
}

type hostState struct {
	Machine string `json:"machine"`
	Link    string `json:"link"`
	NSpawn  int    `json:"nspawn_pid"`
	Leader  int    `json:"leader_pid"`
}

func (l *Lab) save() error {
	b, err := json.MarshalIndent(l.st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(l.Dir, "lab.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("lab state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(l.Dir, "lab.json")); err != nil {
		return fmt.Errorf("lab state: %w", err)
	}
	return nil
}

// record adds or updates a host in the saved state.
func (l *Lab) record(hs hostState) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.st.Hosts {
		if l.st.Hosts[i].Machine == hs.Machine {
			l.st.Hosts[i] = hs
			return l.save()
		}
	}
	l.st.Hosts = append(l.st.Hosts, hs)
	return l.save()
}

// processStart is field 22 of /proc/PID/stat (start time), or "" when
// the process does not exist.
func processStart(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// comm (field 2) may hold spaces; fields after its ")" are plain.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// stale says whether the lab's owner is gone (a kept lab never is).
func (s state) stale() bool {
	if s.Owner == 0 {
		return false
	}
	return processStart(s.Owner) != s.OwnerStart
}

// Sweep tears down the labs under stateDir whose owner process is gone;
// with kept, also the labs kept for a person (make lab-down). A lab whose
// owner still runs is never touched: its owner tears it down. It returns
// the directories it removed. A directory without lab.json is left alone
// for a minute: its owner may be writing it.
func Sweep(stateDir string, kept bool) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(stateDir, "lab[0-9]*"))
	if err != nil {
		return nil, err
	}
	var swept []string
	var errs []error
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "lab.json"))
		var st state
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		if err != nil {
			fi, serr := os.Stat(dir)
			if serr != nil || time.Since(fi.ModTime()) < time.Minute {
				continue
			}
			if id, aerr := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "lab")); aerr == nil {
				st = state{ID: id, Bridge: "slotlab" + strconv.Itoa(id)}
			}
		} else if !st.stale() && (!kept || st.Owner != 0) {
			continue
		}
		if err := teardown(st, dir); err != nil {
			errs = append(errs, err)
			continue
		}
		swept = append(swept, dir)
	}
	return swept, errors.Join(errs...)
}

// teardown kills a lab's containers (checking that each pid still is the
// container it recorded), deletes its links and bridge, and removes dir.
func teardown(st state, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, h := range st.Hosts {
		if isNSpawn(h.NSpawn, h.Machine) {
			killContainer(h.NSpawn, h.Leader)
		}
		_ = run(ctx, "ip", "link", "del", h.Link) // gone with its namespace, usually
	}
	var errs []error
	if st.Bridge != "" {
		if err := run(ctx, "ip", "link", "show", st.Bridge); err == nil {
			if err := run(ctx, "ip", "link", "del", st.Bridge); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("lab: remove %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// isNSpawn says whether pid is the systemd-nspawn of machine.
func isNSpawn(pid int, machine string) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	return len(args) > 0 && strings.HasSuffix(args[0], "systemd-nspawn") &&
		strings.Contains(string(b), "\x00-M\x00"+machine+"\x00")
}

// killContainer kills the container's init, which ends every process in
// its pid namespace and makes nspawn exit and clean up its mounts and
// veth link; nspawn itself is killed if it lingers.
func killContainer(nspawn, leader int) {
	if leader > 0 {
		_ = syscall.Kill(leader, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for processStart(nspawn) != "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if isZombie(nspawn) {
			return
		}
	}
	if processStart(nspawn) != "" {
		_ = syscall.Kill(nspawn, syscall.SIGKILL)
	}
}

// isZombie says whether pid has exited and waits for its parent to reap it.
func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}
