package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ghEnv is a fake GitHub Actions environment with real files for the
// file commands.
type ghEnv struct {
	vars         map[string]string
	output, summ string
	stdout       bytes.Buffer
}

func newGHEnv(t *testing.T, active bool) *ghEnv {
	dir := t.TempDir()
	e := &ghEnv{output: filepath.Join(dir, "output"), summ: filepath.Join(dir, "summary")}
	for _, p := range []string{e.output, e.summ} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.vars = map[string]string{"GITHUB_OUTPUT": e.output, "GITHUB_STEP_SUMMARY": e.summ}
	if active {
		e.vars["GITHUB_ACTIONS"] = "true"
	}
	return e
}

func (e *ghEnv) getenv(k string) string { return e.vars[k] }

func (e *ghEnv) file(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ghOutput(pairs ...string) string {
	var b strings.Builder
	for i := 0; i < len(pairs); i += 2 {
		fmt.Fprintf(&b, "%s<<_GitHubActionsFileCommandDelimeter_\n%s\n_GitHubActionsFileCommandDelimeter_\n", pairs[i], pairs[i+1])
	}
	return b.String()
}

func actionsReport() *Report {
	r := base("validate", OutcomeFail, 1, 87*time.Millisecond)
	r.Checks = []Check{
		{ID: "inventory.masters", Status: Pass, Message: "3 masters"},
		{ID: "inventory.servers_odd", Status: Fail, Message: "4 servers, want odd", File: "inv/prod.yml", Line: 7},
		{ID: "inventory.password", Status: Warn, Message: "short: " + testPassword, File: "inv/prod.yml", Line: 4},
		{ID: "node.auth", Status: Fail, Message: "a|b `c` <d>\nsecond line", Node: "10.0.0.1:7000"},
	}
	r.Summary = []string{"4 servers, 8 nodes"}
	r.Outputs = map[string]string{
		"slots-moved": "200",
		"note":        "two\nlines\r\nthree",
		"outcome":     "hijacked", // the standard output wins
		"bad name!":   "x",
	}
	return r
}

func TestActionsPublish(t *testing.T) {
	e := newGHEnv(t, true)
	a := NewActions(e.getenv, &e.stdout)
	if !a.Active() {
		t.Fatal("not active with GITHUB_ACTIONS=true")
	}
	a.Mask(testPassword)
	a.Group("validate")
	a.EndGroup()
	if err := a.Publish(actionsReport(), "out/validate.json", "out/validate.junit.xml"); err != nil {
		t.Fatal(err)
	}

	wantOut := ghOutput(
		"outcome", "fail",
		"exit-code", "1",
		"json-report", "out/validate.json",
		"junit-report", "out/validate.junit.xml",
		"bad-name-", "x",
		"note", "two lines three",
		"slots-moved", "200",
	)
	if got := e.file(t, e.output); got != wantOut {
		t.Errorf("GITHUB_OUTPUT =\n%s\nwant\n%s", got, wantOut)
	}

	wantSummary := "### slotshift validate: fail\n\n" +
		"Exit code 1 · 4 checks: 2 fail, 1 warn, 1 pass · 0.087 s · cluster prod-cache\n\n" +
		"| Status | Check | Node | Message | Where |\n| --- | --- | --- | --- | --- |\n" +
		"| fail | inventory.servers_odd |  | 4 servers, want odd | inv/prod.yml:7 |\n" +
		"| fail | node.auth | 10.0.0.1:7000 | a\\|b \\`c\\` &lt;d&gt; second line |  |\n" +
		"| warn | inventory.password |  | short: \\*\\*\\* | inv/prod.yml:4 |\n" +
		"| pass | inventory.masters |  | 3 masters |  |\n\n" +
		"#### Summary\n\n- 4 servers, 8 nodes\n\n" +
		"\n" // the library's line end
	if got := e.file(t, e.summ); got != wantSummary {
		t.Errorf("GITHUB_STEP_SUMMARY =\n%q\nwant\n%q", got, wantSummary)
	}

	wantStdout := "::add-mask::" + testPassword + "\n" +
		"::group::validate\n::endgroup::\n" +
		"::error file=inv/prod.yml,line=7,title=inventory.servers_odd::4 servers, want odd\n" +
		"::warning file=inv/prod.yml,line=4,title=inventory.password::short: ***\n"
	if got := e.stdout.String(); got != wantStdout {
		t.Errorf("stdout =\n%s\nwant\n%s", got, wantStdout)
	}
}

func TestActionsInactiveDoesNothing(t *testing.T) {
	for _, v := range []string{"", "false", "1"} {
		e := newGHEnv(t, false)
		e.vars["GITHUB_ACTIONS"] = v
		a := NewActions(e.getenv, &e.stdout)
		a.Mask(testPassword, testKey)
		a.Group("x")
		a.EndGroup()
		if err := a.Publish(actionsReport(), "a.json", "a.xml"); err != nil {
			t.Fatal(err)
		}
		if a.Active() || e.stdout.Len() != 0 || e.file(t, e.output) != "" || e.file(t, e.summ) != "" {
			t.Errorf("GITHUB_ACTIONS=%q: active %v, stdout %q", v, a.Active(), e.stdout.String())
		}
	}
	// A nil getenv and a nil adapter are harmless too.
	NewActions(nil, nil).Publish(actionsReport(), "", "")
	var nilActions *Actions
	nilActions.Mask("x")
	if err := nilActions.Publish(actionsReport(), "", ""); err != nil {
		t.Fatal(err)
	}
}

func TestActionsWithoutFileVars(t *testing.T) {
	e := newGHEnv(t, true)
	e.vars["GITHUB_OUTPUT"], e.vars["GITHUB_STEP_SUMMARY"] = "", ""
	a := NewActions(e.getenv, &e.stdout)
	// The library panics on an empty file path; Publish must not call it.
	if err := a.Publish(actionsReport(), "a.json", "a.xml"); err != nil {
		t.Fatal(err)
	}
	if e.file(t, e.output) != "" || e.file(t, e.summ) != "" {
		t.Error("files written although their variables are empty")
	}
	if got := e.stdout.String(); strings.Count(got, "::error ") != 1 || strings.Count(got, "::warning ") != 1 {
		t.Errorf("annotations still expected on stdout, got %q", got)
	}
}

func TestActionsUnwritableFileIsAnError(t *testing.T) {
	e := newGHEnv(t, true)
	e.vars["GITHUB_OUTPUT"] = filepath.Join(t.TempDir(), "missing", "output")
	a := NewActions(e.getenv, &e.stdout)
	err := a.Publish(actionsReport(), "a.json", "a.xml")
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("err = %v, want the library's panic as an error", err)
	}
}

func TestActionsMaskMultiLine(t *testing.T) {
	e := newGHEnv(t, true)
	a := NewActions(e.getenv, &e.stdout)
	a.Mask(testKey, "", testPassword, testPassword)
	got := e.stdout.String()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	for _, l := range lines {
		if !strings.HasPrefix(l, "::add-mask::") {
			t.Errorf("line %q is not a mask command", l)
		}
	}
	for _, want := range []string{
		"::add-mask::" + testPassword + "\n",
		"::add-mask::" + keyLines[0] + "\n",
		"::add-mask::" + keyLines[1] + "\n",
		"::add-mask::-----BEGIN OPENSSH PRIVATE KEY-----\n",
		// The whole key, with its line breaks escaped by the library.
		"::add-mask::" + strings.ReplaceAll(testKey, "\n", "%0A") + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("masks lack %q:\n%s", want, got)
		}
	}
	if strings.Count(got, testPassword) != 1 {
		t.Error("a repeated secret was masked twice")
	}
	if strings.Contains(got, "::add-mask::\n") || strings.Contains(got, "::add-mask::AAAA\n") {
		t.Errorf("blank or trivial lines masked:\n%s", got)
	}
}

func TestActionsAnnotationLimit(t *testing.T) {
	e := newGHEnv(t, true)
	r := base("validate", OutcomeFail, 1, 0)
	for i := range 25 {
		r.Checks = append(r.Checks,
			Check{ID: "rule.fail", Status: Fail, Message: fmt.Sprint("f", i), File: "inv.yml", Line: i + 1},
			Check{ID: "rule.warn", Status: Warn, Message: fmt.Sprint("w", i), File: "inv.yml", Line: i + 1},
			Check{ID: "rule.noline", Status: Fail, Message: "no line", File: "inv.yml"},
		)
	}
	a := NewActions(e.getenv, &e.stdout)
	if err := a.Publish(r, "a", "b"); err != nil {
		t.Fatal(err)
	}
	got := e.stdout.String()
	if n := strings.Count(got, "::error "); n != 10 {
		t.Errorf("%d ::error annotations, want 10", n)
	}
	if n := strings.Count(got, "::warning "); n != 10 {
		t.Errorf("%d ::warning annotations, want 10", n)
	}
	if strings.Contains(got, "no line") {
		t.Error("annotated a check without a line")
	}
	if !strings.Contains(got, "::error file=inv.yml,line=10,title=rule.fail::f9\n") || strings.Contains(got, "::f10\n") {
		t.Errorf("annotations are not the first ten:\n%s", got)
	}
}

func TestMarkdownCapped(t *testing.T) {
	r := rebalanceDone()
	long := strings.Repeat("x", 2000)
	for i := range 5000 {
		r.Checks = append(r.Checks, Check{ID: fmt.Sprint("c", i), Status: Fail, Message: long})
	}
	md := Markdown(r)
	if len(md) > maxSummaryBytes {
		t.Errorf("summary is %d bytes, cap %d", len(md), maxSummaryBytes)
	}
	if !strings.Contains(md, "more checks are in the JSON and JUnit reports.") {
		t.Error("no note about the checks left out")
	}
	row := "| 2 | warn | 100 | 11800 | 2097152 | 21.000 | latency_p99_ms \\[10.0.0.2:7000\\] = 18.5 (hold 20, abort 200): proceed |\n"
	if !strings.Contains(md, "#### Rebalance") || !strings.Contains(md, row) || !strings.Contains(md, "- moved 200 slots") {
		t.Errorf("batches or summary crowded out:\n%s", md[len(md)-1500:])
	}
	if strings.Contains(md, long) {
		t.Error("a table cell was not truncated")
	}
}

// TestMarkdownPace: the summary shows the pace controller's run summary
// and the pace the run ended at, and nothing without a pacer.
func TestMarkdownPace(t *testing.T) {
	md := Markdown(rebalanceDone())
	want := "pace: min 0.12 · median 0.55 over 2 source(s) · below the steady floor 0.0s · exhausted 0.0s\n\n| Batch"
	if !strings.Contains(md, want) {
		t.Errorf("summary lacks %q:\n%s", want, md)
	}
	r := rebalanceDone()
	r.Rebalance.Batches = r.Rebalance.Batches[:1]
	if want := "· at the end 10.0.0.1:7000 0.42 (100 keys/MIGRATE, 63% of budget)\n"; !strings.Contains(Markdown(r), want) {
		t.Errorf("summary lacks %q:\n%s", want, Markdown(r))
	}
	r.Rebalance.Pace = nil
	if md := Markdown(r); strings.Contains(md, "pace:") {
		t.Errorf("pace line without a pacer:\n%s", md)
	}
}
