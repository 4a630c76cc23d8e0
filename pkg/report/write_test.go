package report

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecondsMarshalThreeDecimals(t *testing.T) {
	for _, tc := range []struct {
		in   Seconds
		want string
	}{
		{0, "0.000"},
		{1, "1.000"},
		{0.1 + 0.2, "0.300"},
		{1.23456, "1.235"},
		{12345.6789, "12345.679"},
		{-0.0001, "0.000"},
		{-2.5, "-2.500"},
		{SecondsOf(1500 * time.Microsecond), "0.002"},
	} {
		b, err := json.Marshal(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("Seconds(%v) = %s, want %s", float64(tc.in), b, tc.want)
		}
	}
	if _, err := json.Marshal(Seconds(math.NaN())); err == nil {
		t.Error("NaN seconds marshalled without error")
	}
	// Inside a report, with omitempty still honoured for a zero check duration.
	b, err := MarshalJSON(&Report{Stage: "verify", Duration: 2.0004, Checks: []Check{{ID: "a", Status: Pass}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"duration_s": 2.000,`) {
		t.Errorf("report duration not written with 3 decimals:\n%s", b)
	}
	if strings.Count(string(b), "duration_s") != 1 {
		t.Errorf("zero check duration should be omitted:\n%s", b)
	}
}

func TestMarshalJSONNormalises(t *testing.T) {
	r := &Report{Stage: "join", StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)),
		Join: &JoinSection{Mode: "noop"}}
	b, err := MarshalJSON(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		`"format_version": "1.0"`, `"name": "slotshift"`, // defaults filled in
		`"checks": []`, `"actions": []`, // required lists are never null
		`"started_at": "2026-01-02T02:04:05Z"`, // UTC
		"\n  \"tool\": {\n    \"name\"",        // indented with two spaces
	} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "null") {
		t.Errorf("JSON contains null:\n%s", s)
	}
	if !strings.HasSuffix(s, "}\n") {
		t.Error("JSON does not end with a newline")
	}
	if r.FormatVersion != "" || r.Checks != nil || r.StartedAt.Location().String() != "CET" {
		t.Error("MarshalJSON modified the caller's report")
	}
}

func TestWriteBothFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "reports")
	r := validateFail()
	jp, xp, err := Write(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if jp != filepath.Join(dir, "validate.json") || xp != filepath.Join(dir, "validate.junit.xml") {
		t.Fatalf("paths = %s, %s", jp, xp)
	}
	wantJSON, _ := MarshalJSON(r, nil)
	wantXML, _ := MarshalJUnit(r, nil)
	for p, want := range map[string][]byte{jp: wantJSON, xp: wantXML} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s mode %v, want 0644", p, fi.Mode().Perm())
		}
		got, _ := os.ReadFile(p)
		if string(got) != string(want) {
			t.Errorf("%s content differs from the marshalled report", p)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("dir holds %d entries, want 2 (no temp files left): %v", len(entries), entries)
	}

	// Writing again replaces the files in place.
	r.Outcome = OutcomePass
	if _, _, err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(jp)
	if !strings.Contains(string(got), `"outcome": "pass"`) {
		t.Error("second Write did not replace the JSON report")
	}
	entries, _ = os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("dir holds %d entries after rewrite, want 2", len(entries))
	}
}

func TestWriteErrors(t *testing.T) {
	for _, stage := range []string{"", "..", "a/b", `a\b`} {
		if _, _, err := Write(t.TempDir(), &Report{Stage: stage}); err == nil {
			t.Errorf("stage %q: no error", stage)
		}
	}
	if _, _, err := Write(t.TempDir(), nil); err == nil {
		t.Error("nil report: no error")
	}
	// A report dir that is a file: an error naming the path, no stray files.
	parent := t.TempDir()
	blocker := filepath.Join(parent, "reports")
	if err := os.WriteFile(blocker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	jp, xp, err := Write(blocker, validatePass())
	if err == nil || !strings.Contains(err.Error(), blocker) {
		t.Errorf("err = %v, want one naming %s", err, blocker)
	}
	if jp != "" || xp != "" {
		t.Errorf("paths %q %q returned for files not written", jp, xp)
	}
	// A target that is a directory: rename fails, the temp file is removed.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "validate.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	jp, xp, err = Write(dir, validatePass())
	if err == nil || jp != "" || xp == "" {
		t.Errorf("Write = %q, %q, %v; want JSON error, JUnit written", jp, xp, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

func TestFinish(t *testing.T) {
	r := &Report{StartedAt: t0}
	r.Finish(t0.Add(1500 * time.Millisecond).In(time.FixedZone("X", 7200)))
	if r.Duration != 1.5 || !r.FinishedAt.Equal(t0.Add(1500*time.Millisecond)) || r.FinishedAt.Location() != time.UTC {
		t.Errorf("Finish: duration %v finished %v", r.Duration, r.FinishedAt)
	}
	r = &Report{StartedAt: t0}
	r.Finish(t0.Add(-time.Second))
	if r.Duration != 0 {
		t.Errorf("clock going backwards gave duration %v", r.Duration)
	}
	r = &Report{}
	r.Finish(t0)
	if r.Duration != 0 || !r.FinishedAt.Equal(t0) {
		t.Errorf("unset start: duration %v", r.Duration)
	}
}
