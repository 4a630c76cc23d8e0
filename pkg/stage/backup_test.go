package stage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/backup"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/provision/sshdtest"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// needCheckRDB skips a test when redis-check-rdb is not installed.
func needCheckRDB(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-check-rdb"); err != nil {
		t.Skip("redis-check-rdb not in PATH (Debian: redis-tools)")
	}
}

// loadedCross is startCross with n keys, waiting until every replica holds
// its master's keys, so that a replica's RDB is a whole copy.
func loadedCross(t *testing.T, n int) (*sandboxtest.Cluster, string) {
	t.Helper()
	c := sandboxtest.Start(t, 6, sandboxtest.Options{NodeTimeoutMS: 1000})
	c.Form(t, 3)
	c.Load(t, n, 16)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 3; i < 6; i++ {
		for {
			rep, _ := c.Client(i).DBSize(ctx).Result()
			mas, _ := c.Client((i - 2) % 3).DBSize(ctx).Result()
			if rep == mas && rep > 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("replica %s has %d keys, its master %d", c.Nodes[i].Addr, rep, mas)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c, crossYAML(ports(c), "")
}

// keysInRDB runs redis-check-rdb on file and returns the keys it read.
func keysInRDB(t *testing.T, file string) int {
	t.Helper()
	out, err := exec.Command("redis-check-rdb", file).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-check-rdb %s: %v\n%s", file, err, out)
	}
	m := regexp.MustCompile(`\[info\] (\d+) keys read`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("redis-check-rdb %s: no key count in\n%s", file, out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// checkManifestFiles loads the run's manifest and checks it against the
// files and the cluster's roles: every entry good, hashes matching, all
// slots covered, and the RDBs holding keys keys between them.
func checkManifestFiles(t *testing.T, res Result, role string, keys int) *backup.Manifest {
	t.Helper()
	path := res.Outputs["manifest"]
	m, err := backup.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	if res.Outputs["backup-dir"] != dir || m.Cluster != "test" || m.CreatedAt.IsZero() {
		t.Errorf("outputs %v, manifest cluster %q created %s", res.Outputs, m.Cluster, m.CreatedAt)
	}
	if f := backup.VerifyFiles(dir, m); len(f) != 0 {
		t.Errorf("files differ from the manifest: %+v", f)
	}
	if f := backup.CheckManifest(m, time.Now(), time.Hour, backup.AllSlots()); len(f) != 0 {
		t.Errorf("manifest findings: %+v", f)
	}
	total := 0
	for _, e := range m.Entries {
		if e.Status != backup.Good || e.Role != role || e.RedisVersion == "" || len(e.ID) != 40 {
			t.Errorf("entry %+v", e)
		}
		if role == "replica" && e.Master == "" {
			t.Errorf("replica entry %s names no master", e.Node)
		}
		if time.Since(e.LastSave) > time.Minute {
			t.Errorf("%s: LASTSAVE %s is not from this run", e.Node, e.LastSave)
		}
		total += keysInRDB(t, filepath.Join(dir, e.File))
	}
	if len(m.Entries) != 3 || total != keys {
		t.Errorf("%d entries holding %d keys, want 3 holding %d", len(m.Entries), total, keys)
	}
	return m
}

func wantChecks(t *testing.T, res Result, want map[string]int) {
	t.Helper()
	got := map[string]int{}
	for _, c := range res.Checks {
		got[c.ID+" "+string(c.Status)]++
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%d checks %q, want %d; checks:\n%s", got[k], k, n, checksText(res))
		}
	}
}

func checksText(res Result) string {
	var b strings.Builder
	for _, c := range res.Checks {
		fmt.Fprintf(&b, "  %s %s %s: %s\n", c.ID, c.Status, c.Node, c.Message)
	}
	return b.String()
}

func TestBackupReplicasAndMasters(t *testing.T) {
	needCheckRDB(t)
	c, text := loadedCross(t, 3000)
	inv := parseInv(t, text)
	env := harnessEnv(t, inv, c.Password)
	out := t.TempDir()

	res, err := Backup(context.Background(), env, BackupInput{Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome() != report.OutcomePass {
		t.Fatalf("outcome %s:\n%s", res.Outcome(), checksText(res))
	}
	wantChecks(t, res, map[string]int{"backup.save pass": 3, "backup.copy pass": 3, "backup.verify pass": 3,
		"backup.manifest pass": 1, "backup.coverage pass": 1})
	m := checkManifestFiles(t, res, "replica", 3000)
	for _, e := range m.Entries {
		if !strings.HasPrefix(e.Node, "127.0.0.1:") || !slicesContain(ports(c)[3:], e.Node) {
			t.Errorf("entry %s is not one of the replicas", e.Node)
		}
	}

	// The masters, in a second run started in the same second: its own
	// directory, never the first run's files.
	res2, err := Backup(context.Background(), env, BackupInput{Output: out, Masters: true, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Outcome() != report.OutcomePass || res2.Outputs["backup-dir"] == res.Outputs["backup-dir"] {
		t.Fatalf("outcome %s, dir %s:\n%s", res2.Outcome(), res2.Outputs["backup-dir"], checksText(res2))
	}
	checkManifestFiles(t, res2, "master", 3000)

	// A replica that is down: a failed save naming it and its inventory
	// line, and its master's slots uncovered; the others are still taken.
	down := c.Nodes[3]
	if err := down.Kill(); err != nil {
		t.Fatal(err)
	}
	res3, err := Backup(context.Background(), env, BackupInput{Output: out})
	if err != nil {
		t.Fatal(err)
	}
	wantChecks(t, res3, map[string]int{"backup.save fail": 1, "backup.verify pass": 2, "backup.coverage fail": 1})
	for _, ch := range res3.Checks {
		if ch.ID == IDBackupSave && ch.Status == report.Fail && (ch.Node != down.Addr || ch.Line == 0 || !strings.Contains(ch.Message, "cannot back up")) {
			t.Errorf("failed save check %+v does not name the node and its line", ch)
		}
	}
	if res3.Outputs["files-good"] != "2" {
		t.Errorf("outputs %v", res3.Outputs)
	}
}

func slicesContain(ports []int, addr string) bool {
	for _, p := range ports {
		if addr == "127.0.0.1:"+strconv.Itoa(p) {
			return true
		}
	}
	return false
}

// TestBackupCorruptFileFailsVerify corrupts one replica's RDB on its node
// after the save: the copy is hashed as it is, redis-check-rdb refuses it,
// the manifest marks it bad and its master's slots are uncovered. Another
// replica saves too slowly for the timeout and fails the same way.
func TestBackupCorruptFileFailsVerify(t *testing.T) {
	needCheckRDB(t)
	c, text := loadedCross(t, 2000)
	inv := parseInv(t, text)
	victim, slow := c.Nodes[4].Addr, c.Nodes[5].Addr
	// About 650 keys at 10 ms each: this replica's save outlasts Timeout
	// (and its orphaned child ends soon after the test).
	if err := c.Client(5).ConfigSet(context.Background(), "rdb-key-save-delay", "10000").Err(); err != nil {
		t.Fatal(err)
	}
	in := BackupInput{Output: t.TempDir(), Timeout: 3 * time.Second, afterSave: func(node, path string) {
		if node != victim {
			return
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if _, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, 200); err != nil {
			t.Error(err)
		}
	}}
	res, err := Backup(context.Background(), harnessEnv(t, inv, c.Password), in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome() != report.OutcomeFail {
		t.Fatalf("outcome %s, want fail:\n%s", res.Outcome(), checksText(res))
	}
	wantChecks(t, res, map[string]int{"backup.verify pass": 1, "backup.verify fail": 1, "backup.save fail": 1,
		"backup.manifest pass": 1, "backup.coverage fail": 1})
	for _, ch := range res.Checks {
		if ch.ID == IDBackupVerify && ch.Status == report.Fail {
			if ch.Node != victim || !strings.Contains(ch.Message, victim) || !strings.Contains(ch.Message, ".rdb: redis-check-rdb:") {
				t.Errorf("verify failure does not name the node and file: %+v", ch)
			}
		}
		if ch.ID == IDBackupSave && ch.Status == report.Fail && (ch.Node != slow || !strings.Contains(ch.Message, "did not finish within 3s")) {
			t.Errorf("save failure: %+v", ch)
		}
	}
	m, err := backup.Load(res.Outputs["manifest"])
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs["files-bad"] != "2" || res.Outputs["files-good"] != "1" {
		t.Errorf("outputs %v", res.Outputs)
	}
	var lost cluster.SlotSet
	for _, e := range m.Entries {
		switch e.Node {
		case victim:
			if e.Status != backup.Bad || !strings.Contains(e.Problem, "redis-check-rdb") || e.SHA256 == "" {
				t.Errorf("corrupt entry %+v, want bad with its hash", e)
			}
		case slow:
			if e.Status != backup.Bad || e.File != "" || !strings.Contains(e.Problem, "did not finish") {
				t.Errorf("slow entry %+v, want bad without a file", e)
			}
		default:
			continue
		}
		s := e.SlotSet()
		lost.Union(&s)
	}
	f := backup.CheckManifest(m, time.Now(), time.Hour, backup.AllSlots())
	if len(f) != 3 || f[0].ID != backup.IDEntry || f[1].ID != backup.IDEntry || f[2].ID != backup.IDCoverage {
		t.Fatalf("findings %+v", f)
	}
	if missing := cluster.NewSlotSet(f[2].Missing...); lost.Len() == 0 || missing.String() != lost.String() {
		t.Errorf("missing %s, want the two failed replicas' masters' slots %s", missing.String(), lost.String())
	}
}

// TestBackupOverSFTP copies real RDB files through a real sshd.
func TestBackupOverSFTP(t *testing.T) {
	needCheckRDB(t)
	sshd := sshdtest.Start(t)
	c, text := loadedCross(t, 1000)
	inv := parseInv(t, text+fmt.Sprintf("ssh: {user: root, port: %d}\n", sshd.Port))
	env := harnessEnv(t, inv, c.Password)

	// No key: refused before any save.
	_, err := Backup(context.Background(), env, BackupInput{Output: t.TempDir(), Transfer: TransferSFTP})
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(ue.Hint, "SLOTSHIFT_SSH_KEY") {
		t.Fatalf("no SSH key: %v, want a usage error", err)
	}

	env.Secrets.SSHKey, env.Secrets.KnownHosts = sshd.ClientKey, sshd.KnownHosts
	res, err := Backup(context.Background(), env, BackupInput{Output: t.TempDir(), Transfer: TransferSFTP})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome() != report.OutcomePass {
		t.Fatalf("outcome %s:\n%s", res.Outcome(), checksText(res))
	}
	for _, ch := range res.Checks {
		if ch.ID == IDBackupCopy && !strings.Contains(ch.Message, "over sftp") {
			t.Errorf("copy did not go over SFTP: %s", ch.Message)
		}
	}
	checkManifestFiles(t, res, "replica", 1000)

	// A host key that is not the server's: every copy fails, named.
	other, _ := sshdtest.NewKey(t)
	env.Secrets.KnownHosts = sshdtest.KnownHostsLine(sshd.Addr, other)
	res, err = Backup(context.Background(), env, BackupInput{Output: t.TempDir(), Transfer: TransferSFTP})
	if err != nil {
		t.Fatal(err)
	}
	wantChecks(t, res, map[string]int{"backup.copy fail": 3, "backup.coverage fail": 1})
	for _, ch := range res.Checks {
		if ch.ID == IDBackupCopy && !strings.Contains(ch.Message, "host key mismatch") {
			t.Errorf("copy failure: %s", ch.Message)
		}
	}
}

func TestBackupInputErrors(t *testing.T) {
	inv := parseInv(t, crossYAML([]int{7000, 7001, 7002, 7003, 7004, 7005}, ""))
	env := harnessEnv(t, inv, "pw")
	var ue *UsageError
	if _, err := Backup(context.Background(), env, BackupInput{Transfer: "ftp"}); !errors.As(err, &ue) {
		t.Errorf("--transfer ftp: %v, want usage error", err)
	}
	_, err := Backup(context.Background(), env, BackupInput{CheckRDB: "/nonexistent/redis-check-rdb"})
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "redis-tools") {
		t.Errorf("missing checker: %v, want a plain error naming redis-tools", err)
	}
	for addr, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "127.3.0.1": true, "10.0.0.1": false, "example.org": false} {
		if got := isLocal(TransferAuto, addr); got != want {
			t.Errorf("isLocal(auto, %s) = %v", addr, got)
		}
	}
	if isLocal(TransferSFTP, "127.0.0.1") || !isLocal(TransferLocal, "10.0.0.1") {
		t.Error("an explicit transfer mode must win over the address")
	}
}
