package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/slotshift/slotshift/pkg/logkey"
	"github.com/slotshift/slotshift/pkg/report"
)

// outputMode is who reads stderr. It decides what a stage prints there, so
// that every event is printed once: either as a line for people or as a
// structured record, never both.
type outputMode int

const (
	// modeHuman: stderr is a terminal outside CI and --log-format is text.
	// The stages' human lines and the verdict; structured records only at
	// warn and above (they have no human line), or all of them with
	// --log-level debug.
	modeHuman outputMode = iota
	// modeCI: CI=true, GITHUB_ACTIONS=true or stderr not a terminal, text
	// format: structured text records and the verdict; no human lines.
	modeCI
	// modeJSON: --log-format json: one machine-readable stream. Every line
	// on stderr is a JSON record, the verdict included.
	modeJSON
)

func (m outputMode) String() string {
	switch m {
	case modeHuman:
		return "human"
	case modeCI:
		return "ci"
	}
	return "json"
}

// selectMode picks the output mode from --log-format, whether stderr is a
// terminal and the CI variables.
func selectMode(format string, terminal bool, getenv func(string) string) (outputMode, error) {
	switch strings.ToLower(format) {
	case "json":
		return modeJSON, nil
	case "text", "":
	default:
		return modeCI, fmt.Errorf("--log-format %q: want text or json", format)
	}
	if !terminal || inCI(getenv) {
		return modeCI, nil
	}
	return modeHuman, nil
}

// inCI reports whether a CI system runs us (CI=true is set by GitHub
// Actions, GitLab, CircleCI, Buildkite, Travis and others).
func inCI(getenv func(string) string) bool {
	ci := strings.ToLower(getenv("CI"))
	return ci == "true" || ci == "1" || getenv("GITHUB_ACTIONS") == "true"
}

// output is where a stage's events go in one mode.
type output struct {
	mode outputMode
	w    io.Writer
	log  *slog.Logger
	// status receives the human lines; io.Discard outside modeHuman.
	status io.Writer
}

// newOutput builds the logger and the status writer for mode, both writing
// to w. level is --log-level.
func newOutput(w io.Writer, mode outputMode, level string) (output, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return output{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	out := output{mode: mode, w: w, status: io.Discard}
	switch mode {
	case modeHuman:
		// Info records repeat the human lines; keep what has no human
		// line, unless the operator asked for everything.
		if lv > slog.LevelDebug && lv < slog.LevelWarn {
			lv = slog.LevelWarn
		}
		out.status = w
		out.log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv}))
	case modeCI:
		out.log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv}))
	case modeJSON:
		out.log = slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))
	}
	return out, nil
}

// output builds the command's output from its flags, writing to w. On a
// bad --log-format or --log-level it still returns a usable output (text
// records, as in CI) with the error, so that the run can report it.
func (r *runner) output(c *cli.Context, w io.Writer) (output, error) {
	mode, err := selectMode(c.String(flagLogFormat), r.io.Terminal, r.io.Getenv)
	if err == nil {
		var out output
		if out, err = newOutput(w, mode, c.String(flagLogLevel)); err == nil {
			return out, nil
		}
	}
	return output{mode: modeCI, w: w, status: io.Discard, log: slog.New(slog.NewTextHandler(w, nil))}, err
}

// maxVerdictProblems bounds the checks named in the JSON verdict; the
// report has them all.
const maxVerdictProblems = 20

// verdict prints the stage's outcome: the text summary for people and
// text logs, one record in JSON mode.
func (o output) verdict(rep *report.Report, jsonPath, junitPath string) {
	if o.mode != modeJSON {
		fmt.Fprint(o.w, report.Text(rep))
		return
	}
	level := slog.LevelInfo
	switch rep.Outcome {
	case report.OutcomeHeld, report.OutcomeInterrupted:
		level = slog.LevelWarn
	case report.OutcomePass:
	default:
		level = slog.LevelError
	}
	failed := 0
	var problems []string // what the text verdict lists: every check not pass or skip
	for _, c := range rep.Checks {
		if c.Status == report.Fail || c.Status == report.Error {
			failed++
		}
		if c.Status != report.Pass && c.Status != report.Skip && len(problems) < maxVerdictProblems {
			where := ""
			if c.Node != "" {
				where = " [" + c.Node + "]"
			}
			problems = append(problems, fmt.Sprintf("%s %s%s: %s", c.Status, c.ID, where, c.Message))
		}
	}
	attrs := []slog.Attr{
		slog.String(logkey.Stage, rep.Stage),
		slog.String(logkey.Outcome, string(rep.Outcome)),
		slog.Int(logkey.ExitCode, rep.ExitCode),
		slog.Int(logkey.Checks, len(rep.Checks)),
		slog.Int("failed", failed),
		slog.Float64(logkey.Duration, float64(rep.Duration)),
		slog.String(logkey.JSONReport, jsonPath),
		slog.String(logkey.JUnitReport, junitPath),
	}
	if rep.Error != "" {
		attrs = append(attrs, slog.String(logkey.Error, rep.Error))
	}
	if rep.Hint != "" {
		attrs = append(attrs, slog.String("hint", rep.Hint))
	}
	if len(problems) > 0 {
		attrs = append(attrs, slog.Any("problems", problems))
	}
	if len(rep.Summary) > 0 {
		attrs = append(attrs, slog.Any("summary", rep.Summary))
	}
	o.log.LogAttrs(context.Background(), level, "stage finished", attrs...)
}
