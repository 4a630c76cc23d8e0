package report

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

// parseJUnit reads a JUnit document back with encoding/xml, which also
// rejects characters XML 1.0 forbids.
func parseJUnit(t *testing.T, b []byte) junitSuites {
	t.Helper()
	var doc junitSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, b)
	}
	return doc
}

func marshalJUnit(t *testing.T, r *Report) []byte {
	t.Helper()
	b, err := MarshalJUnit(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJUnitStatusMapping(t *testing.T) {
	r := base("verify", OutcomeFail, 1, 2*time.Second)
	r.Checks = []Check{
		{ID: "a.pass", Status: Pass, Message: "ok", Duration: 0.25},
		{ID: "a.fail", Status: Fail, Message: "said no", Node: "10.0.0.1:7000", File: "inv.yml", Line: 12},
		{ID: "a.error", Status: Error, Message: "timeout"},
		{ID: "a.skip", Status: Skip, Message: "n/a"},
		{ID: "a.hold", Status: Hold, Message: "lag high"},
		{ID: "a.warn", Status: Warn, Message: "close"},
		{ID: "a.odd", Status: "weird", Message: "?"},
	}
	doc := parseJUnit(t, marshalJUnit(t, r))
	if doc.Name != "slotshift" || len(doc.Suites) != 1 {
		t.Fatalf("doc = %+v", doc)
	}
	s := doc.Suites[0]
	if s.Name != "verify" || s.Tests != 7 || s.Failures != 2 || s.Errors != 1 || s.Skipped != 2 {
		t.Errorf("suite counts: tests %d failures %d errors %d skipped %d", s.Tests, s.Failures, s.Errors, s.Skipped)
	}
	if doc.Tests != 7 || doc.Failures != 2 || doc.Errors != 1 || doc.Time != "2.000" {
		t.Errorf("totals: %+v", doc)
	}
	if s.Timestamp != "2026-03-01T10:00:00" || s.Hostname != "runner-1" || s.Time != "2.000" {
		t.Errorf("suite attrs: %q %q %q", s.Timestamp, s.Hostname, s.Time)
	}
	byName := map[string]junitCase{}
	for _, c := range s.Cases {
		if c.Classname != "slotshift.verify" {
			t.Errorf("%s classname %q", c.Name, c.Classname)
		}
		byName[c.Name] = c
	}
	if c := byName["a.pass"]; c.Failure != nil || c.Error != nil || c.Skipped != nil || c.SystemOut != "" || c.Time != "0.250" {
		t.Errorf("pass case: %+v", c)
	}
	c := byName["a.fail [10.0.0.1:7000]"]
	if c.Failure == nil || c.Failure.Type != "a.fail" || c.Failure.Message != "said no" || c.File != "inv.yml" || c.Line != 12 {
		t.Errorf("fail case: %+v", c)
	}
	if c.Failure != nil && !strings.Contains(c.Failure.Body, "where: inv.yml:12") {
		t.Errorf("fail body lacks the location: %q", c.Failure.Body)
	}
	if c := byName["a.error"]; c.Error == nil || c.Error.Type != "a.error" || c.Error.Message != "timeout" {
		t.Errorf("error case: %+v", c)
	}
	if c := byName["a.skip"]; c.Skipped == nil || c.Skipped.Type != "skip" || c.Skipped.Message != "n/a" {
		t.Errorf("skip case: %+v", c)
	}
	if c := byName["a.hold"]; c.Skipped == nil || c.Skipped.Type != "hold" || c.Skipped.Message != "held: lag high" {
		t.Errorf("hold case: %+v", c)
	}
	if c := byName["a.warn"]; c.Failure != nil || c.Skipped != nil || !strings.HasPrefix(c.SystemOut, "warning: close") {
		t.Errorf("warn case: %+v", c)
	}
	if c := byName["a.odd"]; c.Failure == nil {
		t.Errorf("unknown status must count as failure: %+v", c)
	}
	if _, ok := byName["stage.outcome"]; ok {
		t.Error("stage.outcome added although a failing check explains the fail outcome")
	}
}

func TestJUnitOutcomeCase(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome Outcome
		err     string
		checks  []Check
		want    string // "pass", "failure", "error", "skipped", "" = no outcome case
	}{
		{"empty pass", OutcomePass, "", nil, "pass"},
		{"empty fail", OutcomeFail, "", nil, "failure"},
		{"empty held", OutcomeHeld, "", nil, "skipped"},
		{"empty error", OutcomeError, "boom", nil, "error"},
		{"usage", OutcomeUsage, "bad flag", nil, "error"},
		{"interrupted with passing checks", OutcomeInterrupted, "interrupted", []Check{{ID: "x", Status: Pass}}, "error"},
		{"fail unexplained", OutcomeFail, "", []Check{{ID: "x", Status: Pass}}, "failure"},
		{"fail explained", OutcomeFail, "", []Check{{ID: "x", Status: Fail}}, ""},
		{"pass with checks", OutcomePass, "", []Check{{ID: "x", Status: Pass}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base("join", tc.outcome, 0, time.Second)
			r.Error, r.Checks = tc.err, tc.checks
			doc := parseJUnit(t, marshalJUnit(t, r))
			var oc *junitCase
			for i, c := range doc.Suites[0].Cases {
				if c.Name == "stage.outcome" {
					oc = &doc.Suites[0].Cases[i]
				}
			}
			if tc.want == "" {
				if oc != nil {
					t.Fatalf("unexpected stage.outcome case %+v", oc)
				}
				return
			}
			if oc == nil {
				t.Fatal("no stage.outcome case")
			}
			got := "pass"
			switch {
			case oc.Failure != nil:
				got = "failure"
			case oc.Error != nil:
				got = "error"
				if tc.err != "" && oc.Error.Message != tc.err {
					t.Errorf("error message %q, want %q", oc.Error.Message, tc.err)
				}
			case oc.Skipped != nil:
				got = "skipped"
			}
			if got != tc.want {
				t.Errorf("stage.outcome is %s, want %s", got, tc.want)
			}
		})
	}
}

func TestJUnitRebalanceBatches(t *testing.T) {
	r := rebalanceDone()
	// A check in r.Checks tagged with a batch joins that batch's suite,
	// once even when the batch lists it too.
	r.Checks = append(r.Checks, r.Rebalance.Batches[1].Checks[0], Check{ID: "slots.moved", Status: Pass, Message: "b1", Batch: 1})
	r.Rebalance.Batches = append(r.Rebalance.Batches, Batch{Number: 3, Status: Fail, Slots: 7, Duration: 1})
	doc := parseJUnit(t, marshalJUnit(t, r))
	var names []string
	for _, s := range doc.Suites {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "rebalance,rebalance batch 1,rebalance batch 2,rebalance batch 3" {
		t.Fatalf("suites = %s", got)
	}
	if n := len(doc.Suites[0].Cases); n != 2 {
		t.Errorf("stage suite has %d cases, want 2 (batch checks moved out)", n)
	}
	b1 := doc.Suites[1]
	if b1.Tests != 3 || b1.Cases[2].Name != "slots.moved" || b1.Cases[0].Classname != "slotshift.rebalance.batch-1" {
		t.Errorf("batch 1 suite: %+v", b1)
	}
	if !strings.Contains(b1.SystemOut, "latency_p99_ms [10.0.0.1:7000] = 3.2 (hold 20, abort 200): proceed") {
		t.Errorf("batch 1 system-out lacks gate readings: %q", b1.SystemOut)
	}
	if b2 := doc.Suites[2]; b2.Tests != 1 {
		t.Errorf("batch 2 has %d cases, want 1 (duplicate dropped)", b2.Tests)
	}
	b3 := doc.Suites[3]
	if b3.Tests != 1 || b3.Failures != 1 || b3.Cases[0].Name != "batch.status" {
		t.Errorf("empty failed batch 3 suite: %+v", b3)
	}
	total := 0
	for _, s := range doc.Suites {
		total += s.Tests
	}
	if doc.Tests != total || doc.Failures != 1 {
		t.Errorf("totals tests %d (sum %d) failures %d", doc.Tests, total, doc.Failures)
	}
}

func TestJUnitUniqueNames(t *testing.T) {
	r := base("verify", OutcomePass, 0, 0)
	r.Checks = []Check{
		{ID: "canary", Status: Pass, Node: "n1"},
		{ID: "canary", Status: Pass, Node: "n1"},
		{ID: "canary", Status: Pass, Node: "n1"},
		{ID: "canary", Status: Pass, Node: "n2"},
	}
	doc := parseJUnit(t, marshalJUnit(t, r))
	var got []string
	for _, c := range doc.Suites[0].Cases {
		got = append(got, c.Name)
	}
	if s := strings.Join(got, "|"); s != "canary [n1]|canary [n1] #2|canary [n1] #3|canary [n2]" {
		t.Errorf("names = %s", s)
	}
}

func TestJUnitRemovesForbiddenCharacters(t *testing.T) {
	bad := "a\x00b\x01c\x1bd\ufffee\x7f\tok\xff"
	r := base("val\x02idate", OutcomeError, 3, 0)
	r.Error = bad
	r.Hostname = "host\x03"
	r.Summary = []string{bad}
	r.Checks = []Check{{ID: "id\x04", Status: Fail, Message: bad, Node: bad, File: "f\x05.yml", Line: 2, Hint: bad}}
	b := marshalJUnit(t, r)
	parseJUnit(t, b) // encoding/xml rejects illegal characters
	for _, c := range []string{"\x00", "\x01", "\x1b", "\ufffe", "&#x1B;", "&#x0;"} {
		if strings.Contains(string(b), c) {
			t.Errorf("output contains %q", c)
		}
	}
	if !strings.Contains(string(b), "abcde\x7f\tok\ufffd") && !strings.Contains(string(b), "abcde\x7f&#x9;ok\ufffd") {
		t.Errorf("allowed characters were lost:\n%s", b)
	}
	bin, xsd := xmllint(t)
	if err := runXmllint(t, bin, xsd, stripFileLine(b)); err != nil {
		t.Errorf("xmllint: %v", err)
	}
}
