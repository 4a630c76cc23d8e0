// Package reporttest checks report files the way their consumers will:
// JSON against the committed JSON Schema, JUnit against Jenkins'
// junit-10.xsd with xmllint. It is for tests only.
package reporttest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// SchemaPath is the committed JSON Schema of reports.
func SchemaPath() string { return filepath.Join(Root(), "schema", "report.schema.json") }

// XSDPath is Jenkins' junit-10.xsd in the shared folder beside the repository.
func XSDPath() string { return filepath.Join(Root(), "..", "shared", "schemas", "junit-10.xsd") }

// Schema compiles the committed report schema.
func Schema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile(SchemaPath())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse %s: %v", SchemaPath(), err)
	}
	id, _ := doc.(map[string]any)["$id"].(string)
	if id == "" {
		id = "file://" + SchemaPath()
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(id)
	if err != nil {
		t.Fatalf("compile %s: %v", SchemaPath(), err)
	}
	return s
}

// ValidateJSON validates one JSON document against s.
func ValidateJSON(s *jsonschema.Schema, b []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// CheckJSON fails the test when b does not match the committed schema.
func CheckJSON(t testing.TB, b []byte) {
	t.Helper()
	if err := ValidateJSON(Schema(t), b); err != nil {
		t.Errorf("report does not match %s: %v", SchemaPath(), err)
	}
}

// XMLLint returns the paths of xmllint and the XSD, or skips the test with
// a message saying what is missing.
func XMLLint(t testing.TB) (bin, xsd string) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not found in PATH (apt-get install libxml2-utils); JUnit schema validation skipped")
	}
	xsd = XSDPath()
	if _, err := os.Stat(xsd); err != nil {
		t.Skipf("junit-10.xsd not found at %s; JUnit schema validation skipped", xsd)
	}
	return bin, xsd
}

var (
	testcaseTag = regexp.MustCompile(`<testcase\b[^>]*>`)
	fileLineRe  = regexp.MustCompile(` (file|line)="[^"]*"`)
)

// StripFileLine removes only the file and line attributes of testcases:
// junit-10.xsd does not know them; every other byte must validate.
func StripFileLine(b []byte) []byte {
	return testcaseTag.ReplaceAllFunc(b, func(tag []byte) []byte { return fileLineRe.ReplaceAll(tag, nil) })
}

// RunXMLLint validates doc against xsd.
func RunXMLLint(t testing.TB, bin, xsd string, doc []byte) error {
	t.Helper()
	p := filepath.Join(t.TempDir(), "report.xml")
	if err := os.WriteFile(p, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--noout", "--schema", xsd, p).CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}

// CheckJUnit fails the test when doc, less testcase file/line, does not
// validate against junit-10.xsd.
func CheckJUnit(t testing.TB, doc []byte) {
	t.Helper()
	bin, xsd := XMLLint(t)
	if err := RunXMLLint(t, bin, xsd, StripFileLine(doc)); err != nil {
		t.Errorf("JUnit report does not validate against %s: %v", xsd, err)
	}
}
