package report

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/sethvargo/go-githubactions"
)

// maxAnnotations is how many ::error and how many ::warning annotations
// Publish emits: GitHub shows only 10 of each per step and drops the rest
// silently, and the JUnit report has the full list.
const maxAnnotations = 10

// Actions publishes a report to GitHub Actions: outputs, a Markdown step
// summary, annotations and secret masks. It does nothing at all unless
// GITHUB_ACTIONS is "true", so the same code path runs on a laptop.
type Actions struct {
	gha     *githubactions.Action
	getenv  func(string) string
	active  bool
	secrets []string
}

// NewActions returns an adapter reading the environment through getenv
// and printing workflow commands to stdout.
func NewActions(getenv func(string) string, stdout io.Writer) *Actions {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if stdout == nil {
		stdout = io.Discard
	}
	a := &Actions{getenv: getenv, active: getenv("GITHUB_ACTIONS") == "true"}
	if a.active {
		a.gha = githubactions.New(githubactions.WithWriter(stdout), githubactions.WithGetenv(getenv))
	}
	return a
}

// Active reports whether the process runs inside GitHub Actions.
func (a *Actions) Active() bool { return a != nil && a.active }

// Mask prints ::add-mask:: for every secret, and for each line (of at
// least 8 characters) of a multi-line one such as an SSH key, since the
// runner masks line by line. It depends on nothing else having happened,
// so call it first, before anything can print a secret. The secrets are
// also remembered and redacted from what Publish writes (the step summary
// and outputs are files the runner does not mask).
func (a *Actions) Mask(secrets ...string) {
	if a == nil {
		return
	}
	a.secrets = append(a.secrets, secrets...)
	if !a.active {
		return
	}
	// secretParts yields the whole secret and its long lines; the runner
	// needs the lines, and the whole value does no harm.
	for _, p := range secretParts(secrets) {
		a.gha.AddMask(p)
	}
}

// Group starts a collapsible group of log lines.
func (a *Actions) Group(title string) {
	if a.Active() {
		a.gha.Group(title)
	}
}

// EndGroup ends the group started by Group.
func (a *Actions) EndGroup() {
	if a.Active() {
		a.gha.EndGroup()
	}
}

// Publish reports r to the workflow:
//   - outputs outcome, exit-code, json-report, junit-report and every
//     r.Outputs entry (names reduced to [A-Za-z0-9_-], values made
//     single-line; the four standard names win over r.Outputs), only when
//     GITHUB_OUTPUT is set;
//   - the Markdown step summary, only when GITHUB_STEP_SUMMARY is set;
//   - ::error annotations for failed checks with a file and line, and
//     ::warning ones for warnings, at most 10 of each.
//
// Every string is redacted with the secrets given to Mask. Outside GitHub
// Actions it does nothing. Failures to write (the library panics on them)
// are returned as an error.
func (a *Actions) Publish(r *Report, jsonPath, junitPath string) (err error) {
	if !a.Active() || r == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("publish %s report to GitHub Actions: %v", r.Stage, p)
		}
	}()
	red := NewRedactor(a.secrets...)
	c := prepare(r, red)

	if a.getenv("GITHUB_OUTPUT") != "" {
		for _, o := range outputs(c, red.Redact(jsonPath), red.Redact(junitPath)) {
			a.gha.SetOutput(o[0], o[1])
		}
	}
	if a.getenv("GITHUB_STEP_SUMMARY") != "" {
		a.gha.AddStepSummary(Markdown(c))
	}
	a.annotate(c)
	return nil
}

// outputs lists the step outputs in a fixed order.
func outputs(r *Report, jsonPath, junitPath string) [][2]string {
	out := [][2]string{
		{"outcome", string(r.Outcome)},
		{"exit-code", strconv.Itoa(r.ExitCode)},
		{"json-report", jsonPath},
		{"junit-report", junitPath},
	}
	taken := map[string]bool{"outcome": true, "exit-code": true, "json-report": true, "junit-report": true}
	keys := make([]string, 0, len(r.Outputs))
	for k := range r.Outputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := outputName(k)
		if name == "" || taken[name] {
			continue
		}
		taken[name] = true
		out = append(out, [2]string{name, r.Outputs[k]})
	}
	for i := range out {
		out[i][1] = singleLine(out[i][1])
	}
	return out
}

// outputName keeps an output name to letters, digits, '-' and '_': the
// file command format has no escaping, so anything else could forge
// another output.
func outputName(k string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, strings.TrimSpace(k))
}

// singleLine joins lines with spaces. go-githubactions writes outputs in
// a heredoc with a fixed delimiter, so a multi-line value could end the
// heredoc early and inject outputs.
func singleLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

func (a *Actions) annotate(r *Report) {
	errs, warns := 0, 0
	for _, ch := range allChecks(r) {
		if ch.File == "" || ch.Line <= 0 {
			continue
		}
		var emit func(string, ...any)
		switch {
		case ch.Status == Fail && errs < maxAnnotations:
			errs++
			emit = a.gha.WithFieldsMap(annotationFields(ch)).Errorf
		case ch.Status == Warn && warns < maxAnnotations:
			warns++
			emit = a.gha.WithFieldsMap(annotationFields(ch)).Warningf
		default:
			continue
		}
		emit("%s", annotationText(ch))
	}
}

func annotationFields(ch Check) map[string]string {
	return map[string]string{"file": ch.File, "line": strconv.Itoa(ch.Line), "title": ch.ID}
}

// annotationText is the annotation message: the check's message, with
// its node when it has one.
func annotationText(ch Check) string {
	if ch.Node != "" {
		return ch.Node + ": " + ch.Message
	}
	return ch.Message
}

// allChecks returns the stage's checks followed by each batch's, the
// way the JUnit report groups them.
func allChecks(r *Report) []Check {
	stage, batches := splitChecks(r)
	out := append([]Check(nil), stage...)
	if r.Rebalance != nil {
		for _, b := range r.Rebalance.Batches {
			for _, ch := range batches[b.Number] {
				if ch.Batch == 0 {
					ch.Batch = b.Number
				}
				out = append(out, ch)
			}
		}
	}
	return out
}
