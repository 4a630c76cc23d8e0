package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/atomicfile"
)

// MarshalJSON writes s as a number with exactly three decimals
// (milliseconds), so reports do not carry float noise like 0.30000000004.
func (s Seconds) MarshalJSON() ([]byte, error) {
	f := float64(s)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("seconds %v: not a finite number", f)
	}
	return []byte(formatSeconds(s)), nil
}

// formatSeconds renders s with three decimals, never "-0.000".
func formatSeconds(s Seconds) string {
	out := strconv.FormatFloat(float64(s), 'f', 3, 64)
	if out == "-0.000" {
		out = "0.000"
	}
	return out
}

// Finish records the end of the run: FinishedAt = now (UTC) and Duration =
// now - StartedAt (0 when StartedAt is unset or later than now).
func (r *Report) Finish(now time.Time) {
	r.FinishedAt = now.UTC()
	r.Duration = 0
	if !r.StartedAt.IsZero() && now.After(r.StartedAt) {
		r.Duration = SecondsOf(now.Sub(r.StartedAt))
	}
}

// MarshalJSON returns the indented JSON report (two spaces, field order as
// in the Go types, map keys sorted, HTML characters not escaped) with a
// trailing newline. The report is first copied through red (which may be
// nil), so every string is redacted, times are UTC and required lists are
// [] rather than null.
func MarshalJSON(r *Report, red *Redactor) ([]byte, error) {
	c := prepare(r, red)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode %s report: %w", c.Stage, err)
	}
	return buf.Bytes(), nil
}

// prepare returns the redacted, normalised copy of r that the writers
// encode, with the format version and tool name filled in when unset.
func prepare(r *Report, red *Redactor) *Report {
	c := red.Report(r)
	if c == nil {
		c = (*Redactor)(nil).Report(&Report{})
	}
	if c.FormatVersion == "" {
		c.FormatVersion = FormatVersion
	}
	if c.Tool.Name == "" {
		c.Tool.Name = "slotshift"
	}
	return c
}

// joinRedactors merges optional redactor arguments into one.
func joinRedactors(reds []*Redactor) *Redactor {
	var parts []string
	for _, x := range reds {
		if x != nil {
			parts = append(parts, x.parts...)
		}
	}
	return NewRedactor(parts...)
}

// WriteJSON writes r as an indented JSON report to path, atomically (see
// Write). Every string is redacted with reds first.
func WriteJSON(path string, r *Report, reds ...*Redactor) error {
	b, err := MarshalJSON(r, joinRedactors(reds))
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}

// WriteJUnit writes r as a JUnit XML report to path, atomically (see
// Write). Every string is redacted with reds first.
func WriteJUnit(path string, r *Report, reds ...*Redactor) error {
	b, err := MarshalJUnit(r, joinRedactors(reds))
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}

// Write writes both reports of r as <dir>/<stage>.json and
// <dir>/<stage>.junit.xml, creating dir. Each file is written to a
// temporary file in dir, synced and renamed over the target, so a reader
// (or a run killed half-way) never sees half a report. Every string is
// redacted with reds first. It returns the paths it wrote; on error the
// paths of files that were written are still returned.
func Write(dir string, r *Report, reds ...*Redactor) (jsonPath, junitPath string, err error) {
	if r == nil {
		return "", "", errors.New("write report: nil report")
	}
	stage := r.Stage
	if stage == "" || stage == "." || stage == ".." || strings.ContainsAny(stage, `/\`) {
		return "", "", fmt.Errorf("write report: stage name %q cannot name a file", stage)
	}
	red := joinRedactors(reds)
	jp := filepath.Join(dir, stage+".json")
	xp := filepath.Join(dir, stage+".junit.xml")
	jsonErr := WriteJSON(jp, r, red)
	if jsonErr == nil {
		jsonPath = jp
	}
	// The JUnit report is written even when the JSON one failed: one
	// report is better than none.
	xmlErr := WriteJUnit(xp, r, red)
	if xmlErr == nil {
		junitPath = xp
	}
	return jsonPath, junitPath, errors.Join(jsonErr, xmlErr)
}
