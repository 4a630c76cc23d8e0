package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/slotshift/slotshift/pkg/report/reporttest"
)

var update = flag.Bool("update", false, "rewrite the golden reports and the committed JSON schema")

const (
	goldenDir  = "../../testdata/reports"
	schemaPath = "../../schema/report.schema.json"
)

// checkGolden compares got with the file, or rewrites it under -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale; run go test ./pkg/report -update and review the diff\n--- got ---\n%s", path, got)
	}
}

func TestSchemaCommitted(t *testing.T) {
	got, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, schemaPath, got)
}

func compileSchema(t *testing.T) *jsonschema.Schema { return reporttest.Schema(t) }

func validateJSON(s *jsonschema.Schema, b []byte) error { return reporttest.ValidateJSON(s, b) }

func TestGoldenReports(t *testing.T) {
	schema := compileSchema(t)
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			r := g.build()
			js, err := MarshalJSON(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			xm, err := MarshalJUnit(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			jp := filepath.Join(goldenDir, g.name+".json")
			xp := filepath.Join(goldenDir, g.name+".junit.xml")
			checkGolden(t, jp, js)
			checkGolden(t, xp, xm)

			// Validate what is committed, so the files in the repo are what
			// was checked.
			committed, err := os.ReadFile(jp)
			if err != nil {
				t.Fatal(err)
			}
			if err := validateJSON(schema, committed); err != nil {
				t.Errorf("%s does not match the schema: %v", jp, err)
			}
			// The JSON reads back into the same report.
			var back Report
			if err := json.Unmarshal(committed, &back); err != nil {
				t.Fatal(err)
			}
			if back.Stage != r.Stage || back.Outcome != r.Outcome || len(back.Checks) != len(r.Checks) || !back.StartedAt.Equal(r.StartedAt) {
				t.Errorf("%s does not read back: %+v", jp, back)
			}
		})
	}
}

func TestSchemaRejectsBadReports(t *testing.T) {
	schema := compileSchema(t)
	good, err := MarshalJSON(validateFail(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := validateJSON(schema, good); err != nil {
		t.Fatalf("good report rejected: %v", err)
	}
	for name, mutate := range map[string]func(m map[string]any){
		"unknown status":   func(m map[string]any) { m["checks"].([]any)[0].(map[string]any)["status"] = "maybe" },
		"unknown outcome":  func(m map[string]any) { m["outcome"] = "ok" },
		"major version 2":  func(m map[string]any) { m["format_version"] = "2.0" },
		"checks null":      func(m map[string]any) { m["checks"] = nil },
		"missing stage":    func(m map[string]any) { delete(m, "stage") },
		"bad started_at":   func(m map[string]any) { m["started_at"] = "yesterday" },
		"check without id": func(m map[string]any) { delete(m["checks"].([]any)[0].(map[string]any), "id") },
	} {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(good, &m); err != nil {
				t.Fatal(err)
			}
			mutate(m)
			b, _ := json.Marshal(m)
			if err := validateJSON(schema, b); err == nil {
				t.Errorf("schema accepted a report with %s", name)
			}
		})
	}
	// A later minor version with a new field is still accepted.
	var m map[string]any
	_ = json.Unmarshal(good, &m)
	m["format_version"], m["new_field"] = "1.7", 1
	b, _ := json.Marshal(m)
	if err := validateJSON(schema, b); err != nil {
		t.Errorf("schema rejected a 1.7 report with an added field: %v", err)
	}
}

func xmllint(t *testing.T) (bin, xsd string) { return reporttest.XMLLint(t) }

func stripFileLine(b []byte) []byte { return reporttest.StripFileLine(b) }

func runXmllint(t *testing.T, bin, xsd string, doc []byte) error {
	return reporttest.RunXMLLint(t, bin, xsd, doc)
}

func TestGoldenJUnitValidatesAgainstXSD(t *testing.T) {
	bin, xsd := xmllint(t)
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join(goldenDir, g.name+".junit.xml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := runXmllint(t, bin, xsd, stripFileLine(doc)); err != nil {
				t.Errorf("%s: %v", g.name, err)
			}
		})
	}
	// The check is real: the file/line attributes themselves are outside
	// the XSD, so the unstripped fail report must be rejected.
	doc, err := os.ReadFile(filepath.Join(goldenDir, "validate-fail.junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := runXmllint(t, bin, xsd, doc); err == nil {
		t.Error("xmllint accepted testcase file/line attributes; is it validating at all?")
	}
}
