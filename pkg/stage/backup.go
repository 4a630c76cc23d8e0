package stage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slotshift/slotshift/pkg/atomicfile"
	"github.com/slotshift/slotshift/pkg/backup"
	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/provision/sshrunner"
	"github.com/slotshift/slotshift/pkg/report"
)

// Check ids of backup.
const (
	IDBackupSave     = "backup.save"     // BGSAVE finished on the node
	IDBackupCopy     = "backup.copy"     // the RDB file was copied off the node
	IDBackupVerify   = "backup.verify"   // redis-check-rdb accepted the copy
	IDBackupManifest = "backup.manifest" // the manifest was written
	IDBackupCoverage = backup.IDCoverage // every slot has a good file
	IDBackupAge      = backup.IDAge      // no good file is older than backup.max_age
)

// Transfer modes: how backup copies an RDB file off its node.
const (
	// TransferAuto copies locally when the server's address is a loopback
	// address (a sandbox on this machine), and over SFTP otherwise.
	TransferAuto  = "auto"
	TransferSFTP  = "sftp"
	TransferLocal = "local"
)

// Backup defaults.
const (
	DefaultBackupOutput   = "slotshift-backups"
	DefaultBackupTimeout  = 10 * time.Minute
	DefaultBackupParallel = 4
	backupPoll            = 200 * time.Millisecond
)

// BackupInput configures backup.
type BackupInput struct {
	// Output is the directory each run writes a subdirectory into (see
	// backup.DirName). Default DefaultBackupOutput.
	Output string
	// Masters backs up the masters instead of the replicas.
	Masters bool
	// Timeout bounds each node's save. Default 10m. A save that outlasts
	// it goes on on the node; its file is not copied and the node's entry
	// is bad.
	Timeout time.Duration
	// Transfer is TransferAuto (default), TransferSFTP or TransferLocal.
	Transfer string
	// Parallel bounds the nodes saved and copied at once. Default 4: every
	// BGSAVE forks, and a fork costs memory on its machine.
	Parallel int
	// CheckRDB is the redis-check-rdb program. Default: found in PATH.
	CheckRDB string

	// afterSave, when set, runs after a node's save and before its copy,
	// with the RDB path on the node (tests corrupt the file here).
	afterSave func(node, rdbPath string)
}

// backupTarget is one node to back up.
type backupTarget struct {
	ref   inventory.NodeRef
	entry backup.Entry
	local bool
}

// backupRun is one backup stage run.
type backupRun struct {
	env     Env
	in      BackupInput
	pool    *admin.Pool // the observer's
	checker string
	dir     string // this run's directory

	mu    sync.Mutex
	ssh   map[string]*sshrunner.Client // by server name
	dials map[string]error
}

// Backup takes a fresh RDB snapshot (BGSAVE) on every replica — or every
// master with in.Masters — copies each file into a new directory under
// in.Output, checks every copy with redis-check-rdb and writes a manifest
// (backup.Manifest) beside them. A file that fails is kept and marked bad
// in the manifest, so that the manifest always says what the run produced;
// backup.coverage then fails for the slots no good file holds. A node
// that cannot be reached is a failed backup.save check and has no entry.
//
// Files are copied locally when in.Transfer says so (or, by default, when
// the server's address is loopback), otherwise over SFTP with the
// inventory's ssh settings and the SSH secrets, as provision does.
func Backup(ctx context.Context, env Env, in BackupInput) (Result, error) {
	run, err := newBackupRun(env, in)
	if err != nil {
		return Result{}, err
	}
	defer run.close()
	res := Result{Outputs: map[string]string{}}
	obs := newObserverTimeout(env, 5*time.Second)
	defer obs.close()
	run.pool = obs.pool
	l, ok, err := obs.live(ctx, &res, "backup", IDBackupSave)
	if !ok {
		return res, err
	}
	targets, checks := backupTargets(env.Inventory, l, in.Masters, run.in.Transfer)
	res.Add(checks...)
	if len(targets) == 0 {
		c := check.New(IDBackupSave, report.Fail, "", "no %s to back up", roleWord(in.Masters))
		if !in.Masters {
			c.Hint = "add replicas, or back up the masters with --masters"
		}
		res.Add(c)
		return res, nil
	}
	if err := run.needSSH(targets); err != nil {
		return res, err
	}
	started := backupClock(env)
	if run.dir, err = makeRunDir(run.in.Output, backup.DirName(env.Inventory.Cluster.Name, started)); err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	obs.statusf("backup: %d %s into %s", len(targets), roleWord(in.Masters), run.dir)

	perTarget := make([][]report.Check, len(targets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(run.in.Parallel)
	for i := range targets {
		g.Go(func() error {
			perTarget[i] = run.one(gctx, &targets[i])
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	for _, cs := range perTarget {
		res.Add(cs...)
	}
	run.finish(&res, targets, backupClock(env), started)
	return res, nil
}

func newBackupRun(env Env, in BackupInput) (*backupRun, error) {
	if env.Inventory == nil {
		return nil, Usagef("backup: no inventory")
	}
	if in.Output == "" {
		in.Output = DefaultBackupOutput
	}
	if in.Timeout <= 0 {
		in.Timeout = DefaultBackupTimeout
	}
	if in.Parallel <= 0 {
		in.Parallel = DefaultBackupParallel
	}
	switch in.Transfer {
	case "":
		in.Transfer = TransferAuto
	case TransferAuto, TransferSFTP, TransferLocal:
	default:
		return nil, Usagef("backup: --transfer %q: want %s, %s or %s", in.Transfer, TransferAuto, TransferSFTP, TransferLocal)
	}
	prog := in.CheckRDB
	if prog == "" {
		prog = "redis-check-rdb"
	}
	checker, err := exec.LookPath(prog)
	if err != nil {
		// Checked before any save: a backup that cannot be checked is
		// not one.
		return nil, fmt.Errorf("backup: %s not found (Debian and Ubuntu: apt-get install redis-tools): %w", prog, err)
	}
	return &backupRun{env: env, in: in, checker: checker, ssh: map[string]*sshrunner.Client{}, dials: map[string]error{}}, nil
}

// backupClock is the stage clock.
func backupClock(env Env) time.Time {
	if env.Now != nil {
		return env.Now()
	}
	return time.Now()
}

// makeRunDir creates this run's directory under out; a second run in the
// same second gets a numbered suffix rather than another run's files.
func makeRunDir(out, name string) (string, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	dir := filepath.Join(out, name)
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o755)
		if err == nil || !errors.Is(err, os.ErrExist) || i > 100 {
			return dir, err
		}
		dir = filepath.Join(out, fmt.Sprintf("%s-%d", name, i))
	}
}

func roleWord(masters bool) string {
	if masters {
		return "masters"
	}
	return "replicas"
}

// backupTargets picks the inventory's nodes that the cluster sees in the
// wanted role, with the slots each file will hold: a master's own, or its
// master's for a replica. An unreachable node declared in that role is a
// failed backup.save check.
func backupTargets(inv *inventory.Inventory, l check.Live, masters bool, transfer string) ([]backupTarget, []report.Check) {
	var out []backupTarget
	var checks []report.Check
	wantRole := inventory.RoleReplica
	if masters {
		wantRole = inventory.RoleMaster
	}
	for _, r := range inv.Nodes() {
		addr := r.Addr()
		o := l.Snap.Nodes[addr]
		if o == nil || !o.OK() {
			if r.Role == wantRole {
				why := "not observed"
				if o != nil {
					why = o.Err
				}
				c := check.New(IDBackupSave, report.Fail, addr, "%s: cannot back up: %s", check.Label(inv, addr), why)
				c.File, c.Line = inv.Source, r.Line
				checks = append(checks, c)
			}
			continue
		}
		n, ok := l.Node(addr)
		if !ok {
			n, _ = o.Self()
		}
		if n.IsMaster() != masters {
			continue
		}
		e := backup.Entry{Node: addr, Server: r.Server, ID: n.ID, Role: string(inventory.RoleMaster),
			RedisVersion: o.Info["redis_version"], Status: backup.Bad}
		slots := n.Slots
		if n.IsReplica() {
			e.Role = string(inventory.RoleReplica)
			m, _ := l.ByID(n.MasterID)
			e.Master, slots = m.Addr, m.Slots
		}
		e.Slots = slots.Ranges()
		out = append(out, backupTarget{ref: r, entry: e, local: isLocal(transfer, r.Address)})
	}
	return out, checks
}

// isLocal applies the transfer rule: local for TransferLocal, or for
// TransferAuto when the address is loopback.
func isLocal(transfer, address string) bool {
	switch transfer {
	case TransferLocal:
		return true
	case TransferSFTP:
		return false
	}
	if address == "localhost" {
		return true
	}
	ip := net.ParseIP(address)
	return ip != nil && ip.IsLoopback()
}

// needSSH refuses to start (before any save) when a file must travel over
// SFTP and the SSH secrets are missing.
func (r *backupRun) needSSH(targets []backupTarget) error {
	for _, t := range targets {
		if t.local {
			continue
		}
		if r.env.Secrets.SSHKey == "" {
			return &UsageError{Err: fmt.Errorf("backup: %s is copied over SFTP and no SSH private key is set", t.ref.Server),
				Hint: "set SLOTSHIFT_SSH_KEY (or --ssh-key-file), or --transfer local when the files are on this machine"}
		}
		if r.env.Secrets.KnownHosts == "" {
			return &UsageError{Err: fmt.Errorf("backup: no known_hosts: host keys cannot be verified"),
				Hint: "set SLOTSHIFT_SSH_KNOWN_HOSTS (or --known-hosts-file)"}
		}
	}
	return nil
}

// one saves, copies and checks one node, filling its manifest entry.
func (r *backupRun) one(ctx context.Context, t *backupTarget) []report.Check {
	addr, name := t.entry.Node, check.Label(r.env.Inventory, t.entry.Node)
	fail := func(id, format string, a ...any) []report.Check {
		msg := fmt.Sprintf(format, a...)
		t.entry.Problem = msg
		return []report.Check{check.New(id, report.Fail, addr, "%s: %s", name, msg)}
	}
	path, err := r.pool.RDBPath(ctx, addr)
	if err != nil {
		return fail(IDBackupSave, "%v", err)
	}
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, r.in.Timeout)
	st, err := r.pool.Save(sctx, addr, backupPoll)
	cancel()
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return fail(IDBackupSave, "the save did not finish within %s", r.in.Timeout)
	case err != nil:
		return fail(IDBackupSave, "%v", err)
	}
	t.entry.LastSave = st.LastSave
	if st.RedisVersion != "" {
		t.entry.RedisVersion = st.RedisVersion
	}
	saved := check.New(IDBackupSave, report.Pass, addr, "%s: BGSAVE finished in %s (LASTSAVE %s)",
		name, time.Since(start).Round(time.Millisecond), st.LastSave.Format(time.RFC3339))
	saved.Duration = report.SecondsOf(time.Since(start))
	out := []report.Check{saved}
	if r.in.afterSave != nil {
		r.in.afterSave(addr, path)
	}

	file := backup.FileName(t.ref.Server, t.ref.Port)
	start = time.Now()
	size, sum, via, err := r.copy(ctx, t, path, filepath.Join(r.dir, file))
	if err != nil {
		return append(out, fail(IDBackupCopy, "copy %s: %v", path, err)...)
	}
	t.entry.File, t.entry.Size, t.entry.SHA256 = file, size, sum
	copied := check.New(IDBackupCopy, report.Pass, addr, "%s: copied %s (%d bytes, sha256 %s) over %s", name, file, size, sum[:12], via)
	copied.Observed, copied.Unit = size, "bytes"
	copied.Duration = report.SecondsOf(time.Since(start))
	out = append(out, copied)

	if msg, err := r.checkRDB(ctx, filepath.Join(r.dir, file)); err != nil {
		return append(out, fail(IDBackupVerify, "%s: redis-check-rdb: %s", file, msg)...)
	}
	t.entry.Status = backup.Good
	return append(out, check.New(IDBackupVerify, report.Pass, addr, "%s: %s: redis-check-rdb: RDB looks OK", name, file))
}

// copy copies the node's RDB file at path to dst (through a temporary
// file, renamed once complete and synced) and returns its size and
// SHA-256 and how it travelled.
func (r *backupRun) copy(ctx context.Context, t *backupTarget, path, dst string) (int64, string, string, error) {
	tmp := dst + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, "", "", err
	}
	defer func() { _ = os.Remove(tmp) }() // after a successful rename: nothing to remove
	h := sha256.New()
	w := io.MultiWriter(f, h)
	var n int64
	via := "sftp"
	if t.local {
		via = "local file system"
		n, err = copyLocal(path, w)
	} else {
		var c *sshrunner.Client
		if c, err = r.client(ctx, t.ref); err == nil {
			n, err = c.Download(ctx, path, w)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		return 0, "", via, err
	}
	return n, hex.EncodeToString(h.Sum(nil)), via, nil
}

func copyLocal(path string, w io.Writer) (int64, error) {
	src, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	return io.Copy(w, src)
}

// client returns the SSH connection to the node's server, dialling it once
// for all its nodes.
func (r *backupRun) client(ctx context.Context, ref inventory.NodeRef) (*sshrunner.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.ssh[ref.Server]; ok {
		return c, nil
	}
	if err, ok := r.dials[ref.Server]; ok {
		return nil, err
	}
	s := r.env.Inventory.Servers[ref.ServerIndex]
	c, err := sshrunner.Dial(ctx, sshrunner.Config{
		Name: s.Name, Addr: net.JoinHostPort(s.Address, strconv.Itoa(s.SSH.Port)), User: s.SSH.User,
		Key: r.env.Secrets.SSHKey, Passphrase: r.env.Secrets.SSHPassphrase, KnownHosts: r.env.Secrets.KnownHosts,
		Log: r.env.Log,
	})
	if err != nil {
		r.dials[ref.Server] = err
		return nil, err
	}
	r.ssh[ref.Server] = c
	return c, nil
}

// checkRDB runs redis-check-rdb on file; on failure it returns the
// checker's diagnosis (the line after "RDB ERROR DETECTED", or its last
// line). The checker prints key names, which are data, not secrets, but
// only that one line reaches the report.
func (r *backupRun) checkRDB(ctx context.Context, file string) (string, error) {
	out, err := exec.CommandContext(ctx, r.checker, file).CombinedOutput()
	if err == nil {
		return "", nil
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	msg := lines[len(lines)-1]
	for i, l := range lines {
		if strings.Contains(l, "RDB ERROR DETECTED") && i+1 < len(lines) {
			msg = lines[i+1]
			break
		}
	}
	return fmt.Sprintf("%s (%v)", strings.TrimSpace(msg), err), err
}

// finish writes the manifest and checks it for coverage and age.
func (r *backupRun) finish(res *Result, targets []backupTarget, now, started time.Time) {
	m := &backup.Manifest{FormatVersion: backup.FormatVersion, Cluster: r.env.Inventory.Cluster.Name, CreatedAt: started.UTC()}
	good := 0
	for _, t := range targets {
		m.Entries = append(m.Entries, t.entry)
		if t.entry.Status == backup.Good {
			good++
		}
	}
	path := filepath.Join(r.dir, backup.ManifestName)
	if err := atomicfile.WriteJSON(path, m, 0o644); err != nil {
		res.Add(check.New(IDBackupManifest, report.Error, "", "write the manifest: %v", err))
		return
	}
	res.Add(check.New(IDBackupManifest, report.Pass, "", "wrote %s: %d of %d files good", path, good, len(targets)))
	res.Outputs["manifest"] = path
	res.Outputs["backup-dir"] = r.dir
	res.Outputs["files-good"] = strconv.Itoa(good)
	res.Outputs["files-bad"] = strconv.Itoa(len(targets) - good)
	res.Summary = append(res.Summary, fmt.Sprintf("backup: %d of %d %s good in %s", good, len(targets), roleWord(r.in.Masters), r.dir))

	covered := true
	for _, f := range backup.CheckManifest(m, now, r.env.Inventory.Backup.MaxAge.Duration, backup.AllSlots()) {
		switch f.ID {
		case backup.IDCoverage:
			covered = false
			c := check.New(IDBackupCoverage, report.Fail, "", "%s", f.Message)
			missing := cluster.NewSlotSet(f.Missing...)
			c.Observed, c.Threshold, c.Unit = cluster.NumSlots-missing.Len(), cluster.NumSlots, "slots"
			res.Add(c)
		case backup.IDAge:
			res.Add(check.New(IDBackupAge, report.Fail, f.Node, "%s", f.Message))
		}
		// backup.IDEntry: already a failed save, copy or verify check.
	}
	if covered {
		res.Add(check.New(IDBackupCoverage, report.Pass, "", "all %d slots are in good files", cluster.NumSlots))
	}
}

func (r *backupRun) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.ssh {
		_ = c.Close()
	}
}
