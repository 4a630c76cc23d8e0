package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// junitTimestamp is the layout junit-10.xsd consumers expect: UTC, no zone.
const junitTimestamp = "2006-01-02T15:04:05"

// The JUnit document, shaped after Jenkins' junit-10.xsd plus the
// testcase file/line attributes that GitHub and GitLab reporters read.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Hostname   string          `xml:"hostname,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string       `xml:"name,attr"`
	Classname string       `xml:"classname,attr"`
	Time      string       `xml:"time,attr"`
	File      string       `xml:"file,attr,omitempty"`
	Line      int          `xml:"line,attr,omitempty"`
	Failure   *junitResult `xml:"failure,omitempty"`
	Error     *junitResult `xml:"error,omitempty"`
	Skipped   *junitResult `xml:"skipped,omitempty"`
	SystemOut string       `xml:"system-out,omitempty"`
}

type junitResult struct {
	Type    string `xml:"type,attr,omitempty"`
	Message string `xml:"message,attr,omitempty"`
	Body    string `xml:",chardata"`
}

// MarshalJUnit returns r as a JUnit XML document: testsuites "slotshift" ›
// one testsuite per stage (and, when r has a rebalance section, one
// "rebalance batch N" testsuite per batch) › one testcase per check.
// fail → <failure>, error → <error>, skip and hold → <skipped>, warn and
// pass pass (warn with <system-out>). A suite without checks gets one
// testcase for its outcome ("stage.outcome" / "batch.status") so that it
// is never empty; "stage.outcome" is also added when the stage did not
// finish (r.Error) or its outcome is not explained by any check. Every
// string is redacted with red (which may be nil) and stripped of the
// characters XML 1.0 forbids.
func MarshalJUnit(r *Report, red *Redactor) ([]byte, error) {
	c := prepare(r, red)
	doc := buildJUnit(c)
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode %s junit report: %w", c.Stage, err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func buildJUnit(r *Report) junitSuites {
	host := r.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	stamp := ""
	if !r.StartedAt.IsZero() {
		stamp = r.StartedAt.UTC().Format(junitTimestamp)
	}
	stage := r.Stage
	stageChecks, batchChecks := splitChecks(r)

	suite := junitSuite{
		Name:       xmlText(stage),
		Time:       junitSeconds(r.Duration),
		Timestamp:  stamp,
		Hostname:   xmlText(host),
		Properties: stageProperties(r),
		SystemOut:  xmlText(strings.Join(r.Summary, "\n")),
	}
	class := "slotshift." + stage
	names := map[string]int{}
	for _, ch := range stageChecks {
		suite.add(checkCase(class, ch, names))
	}
	if needOutcomeCase(r, stageChecks) {
		suite.add(outcomeCase(class, r, names))
	}
	doc := junitSuites{Name: "slotshift", Time: junitSeconds(r.Duration), Suites: []junitSuite{suite}}

	if r.Rebalance != nil {
		for _, b := range r.Rebalance.Batches {
			bs := junitSuite{
				Name:       fmt.Sprintf("%s batch %d", xmlText(stage), b.Number),
				Time:       junitSeconds(b.Duration),
				Timestamp:  stamp,
				Hostname:   xmlText(host),
				Properties: batchProperties(b),
				SystemOut:  xmlText(gateLines(b.Gates)),
			}
			if !b.StartedAt.IsZero() {
				bs.Timestamp = b.StartedAt.UTC().Format(junitTimestamp)
			}
			bclass := fmt.Sprintf("slotshift.%s.batch-%d", stage, b.Number)
			bnames := map[string]int{}
			checks := batchChecks[b.Number]
			for _, ch := range checks {
				bs.add(checkCase(bclass, ch, bnames))
			}
			if len(checks) == 0 {
				bs.add(batchCase(bclass, b, bnames))
			}
			doc.Suites = append(doc.Suites, bs)
		}
	}
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
	}
	return doc
}

// splitChecks sorts the report's checks into the stage suite and the
// batch suites. With a rebalance section, a check of r.Checks whose Batch
// names an existing batch goes to that batch's suite, after the batch's
// own Checks; an identical check listed in both places appears once.
func splitChecks(r *Report) (stage []Check, batches map[int][]Check) {
	batches = map[int][]Check{}
	if r.Rebalance == nil {
		return r.Checks, batches
	}
	known := map[int]bool{}
	for _, b := range r.Rebalance.Batches {
		known[b.Number] = true
		batches[b.Number] = append(batches[b.Number], b.Checks...)
	}
	for _, ch := range r.Checks {
		if ch.Batch == 0 || !known[ch.Batch] {
			stage = append(stage, ch)
			continue
		}
		if !containsCheck(batches[ch.Batch], ch) {
			batches[ch.Batch] = append(batches[ch.Batch], ch)
		}
	}
	return stage, batches
}

func containsCheck(list []Check, c Check) bool {
	for _, x := range list {
		if x.ID == c.ID && x.Node == c.Node && x.Status == c.Status && x.Message == c.Message {
			return true
		}
	}
	return false
}

func (s *junitSuite) add(c junitCase) {
	s.Tests++
	switch {
	case c.Failure != nil:
		s.Failures++
	case c.Error != nil:
		s.Errors++
	case c.Skipped != nil:
		s.Skipped++
	}
	s.Cases = append(s.Cases, c)
}

// caseName returns "<id> [<node>]", made unique within a suite with a
// " #n" suffix: GitLab keeps only the first of two equal names and
// action-junit-report merges them as retries.
func caseName(id, node string, seen map[string]int) string {
	name := id
	if node != "" {
		name += " [" + node + "]"
	}
	name = xmlText(name)
	seen[name]++
	if n := seen[name]; n > 1 {
		name = fmt.Sprintf("%s #%d", name, n)
	}
	return name
}

func checkCase(class string, ch Check, seen map[string]int) junitCase {
	c := junitCase{
		Name:      caseName(ch.ID, ch.Node, seen),
		Classname: xmlText(class),
		Time:      junitSeconds(ch.Duration),
		File:      xmlText(ch.File),
		Line:      ch.Line,
	}
	if ch.Line < 0 {
		c.Line = 0
	}
	msg := oneLine(ch.Message)
	body := xmlText(checkDetails(ch))
	switch ch.Status {
	case Pass:
	case Warn:
		c.SystemOut = xmlText("warning: ") + body
	case Fail:
		c.Failure = &junitResult{Type: xmlText(ch.ID), Message: msg, Body: body}
	case Error:
		c.Error = &junitResult{Type: xmlText(ch.ID), Message: msg, Body: body}
	case Skip:
		c.Skipped = &junitResult{Type: "skip", Message: msg, Body: body}
	case Hold:
		c.Skipped = &junitResult{Type: "hold", Message: heldMessage(ch.Message), Body: body}
	default:
		// An unknown status is treated as a failure, never as a pass.
		c.Failure = &junitResult{Type: xmlText(ch.ID), Message: oneLine("status " + string(ch.Status) + ": " + ch.Message), Body: body}
	}
	return c
}

// checkDetails is the multi-line body of a check's result element.
func checkDetails(ch Check) string {
	var b strings.Builder
	b.WriteString(ch.Message)
	if ch.Node != "" {
		fmt.Fprintf(&b, "\nnode: %s", ch.Node)
	}
	if ch.Observed != nil {
		fmt.Fprintf(&b, "\nobserved: %s", valueText(ch.Observed, ch.Unit))
	}
	if ch.Threshold != nil {
		fmt.Fprintf(&b, "\nthreshold: %s", valueText(ch.Threshold, ch.Unit))
	}
	if ch.File != "" {
		fmt.Fprintf(&b, "\nwhere: %s", fileLine(ch.File, ch.Line))
	}
	if ch.Hint != "" {
		fmt.Fprintf(&b, "\nhint: %s", ch.Hint)
	}
	return b.String()
}

// valueText renders an observed or threshold value with its unit.
func valueText(v any, unit string) string {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			s = fmt.Sprint(v)
		} else {
			s = string(b)
		}
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

func fileLine(file string, line int) string {
	if line > 0 {
		return file + ":" + strconv.Itoa(line)
	}
	return file
}

// needOutcomeCase says whether the stage suite needs a "stage.outcome"
// testcase: when it is empty, when the stage did not finish, or when no
// check explains a non-passing outcome (a report must never look green
// for a stage that was not).
func needOutcomeCase(r *Report, checks []Check) bool {
	if len(checks) == 0 || r.Error != "" {
		return true
	}
	want := map[Outcome]Status{OutcomeFail: Fail, OutcomeHeld: Hold, OutcomeError: Error, OutcomeUsage: Error, OutcomeInterrupted: Error}
	st, ok := want[r.Outcome]
	if !ok {
		return false
	}
	for _, c := range checks {
		if c.Status == st {
			return false
		}
	}
	return true
}

func outcomeCase(class string, r *Report, seen map[string]int) junitCase {
	c := junitCase{Name: caseName("stage.outcome", "", seen), Classname: xmlText(class), Time: junitSeconds(r.Duration)}
	msg := r.Error
	if msg == "" {
		msg = fmt.Sprintf("stage %s: %s", r.Stage, r.Outcome)
	}
	body := msg
	if r.Hint != "" {
		body += "\nhint: " + r.Hint
	}
	body = xmlText(body)
	switch r.Outcome {
	case OutcomePass:
		c.SystemOut = body
	case OutcomeHeld:
		c.Skipped = &junitResult{Type: "hold", Message: heldMessage(msg), Body: body}
	case OutcomeFail:
		c.Failure = &junitResult{Type: "stage.outcome", Message: oneLine(msg), Body: body}
	default: // error, usage, interrupted, or unknown: the stage could not finish
		c.Error = &junitResult{Type: "stage." + xmlText(string(r.Outcome)), Message: oneLine(msg), Body: body}
	}
	return c
}

// heldMessage makes a skipped element's message say it was held: JUnit
// has no "held", and a reader must not take it for "not applicable".
func heldMessage(msg string) string {
	if !strings.HasPrefix(strings.ToLower(msg), "held") {
		msg = "held: " + msg
	}
	return oneLine(msg)
}

// batchCase stands for a batch that has no checks of its own.
func batchCase(class string, b Batch, seen map[string]int) junitCase {
	ch := Check{
		ID:       "batch.status",
		Status:   b.Status,
		Message:  fmt.Sprintf("batch %d: %d slots, %d keys, %s", b.Number, b.Slots, b.Keys, b.Status),
		Duration: b.Duration,
	}
	if ch.Status == "" {
		ch.Status = Pass
	}
	return checkCase(class, ch, seen)
}

func stageProperties(r *Report) []junitProperty {
	p := []junitProperty{
		{"format_version", r.FormatVersion},
		{"tool", r.Tool.Name},
		{"tool_version", r.Tool.Version},
		{"stage", r.Stage},
		{"outcome", string(r.Outcome)},
		{"exit_code", strconv.Itoa(r.ExitCode)},
	}
	opt := []junitProperty{
		{"cluster", r.Cluster.Name},
		{"inventory_file", r.Cluster.InventoryFile},
		{"fingerprint", r.Cluster.Fingerprint},
		{"error", r.Error},
		{"hint", r.Hint},
	}
	for _, o := range opt {
		if o.Value != "" {
			p = append(p, o)
		}
	}
	if r.Rebalance != nil {
		rb := r.Rebalance
		p = append(p,
			junitProperty{"batches_remaining", strconv.Itoa(rb.BatchesRemaining)},
			junitProperty{"slots_moved", strconv.Itoa(rb.SlotsMoved)},
			junitProperty{"keys_moved", strconv.FormatInt(rb.KeysMoved, 10)},
			junitProperty{"done", strconv.FormatBool(rb.Done)},
		)
	}
	for i := range p {
		p[i].Value = xmlText(p[i].Value)
	}
	return p
}

func batchProperties(b Batch) []junitProperty {
	return []junitProperty{
		{"batch", strconv.Itoa(b.Number)},
		{"status", xmlText(string(b.Status))},
		{"moves", strconv.Itoa(len(b.Moves))},
		{"slots", strconv.Itoa(b.Slots)},
		{"keys", strconv.FormatInt(b.Keys, 10)},
		{"bytes", strconv.FormatInt(b.Bytes, 10)},
	}
}

// gateLines renders gate readings, one per line, for a batch's system-out.
func gateLines(gates []GateReading) string {
	var b strings.Builder
	for i, g := range gates {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(gateText(g))
	}
	return b.String()
}

func gateText(g GateReading) string {
	s := g.Gate
	if g.Node != "" {
		s += " [" + g.Node + "]"
	}
	return fmt.Sprintf("%s = %s (hold %s, abort %s): %s", s, num(g.Value), num(g.Hold), num(g.Abort), g.Decision)
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// junitSeconds formats a time attribute: three decimals, never negative
// (junit-10.xsd's SUREFIRE_TIME has no sign).
func junitSeconds(s Seconds) string {
	if s < 0 {
		s = 0
	}
	return formatSeconds(s)
}

// oneLine makes an attribute value single-line and XML-safe; the full
// text goes in the element body.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)), " ")
	return xmlText(s)
}

// xmlText removes the characters XML 1.0 does not allow (most C0 control
// characters, surrogates, U+FFFE and U+FFFF); invalid UTF-8 becomes
// U+FFFD. encoding/xml would otherwise write some of them raw.
func xmlText(s string) string {
	valid := func(r rune) bool {
		return r == '\t' || r == '\n' || r == '\r' ||
			(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
	}
	clean := true
	for _, r := range s {
		if !valid(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if !valid(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
