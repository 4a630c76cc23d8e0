package report

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/invopop/jsonschema"
)

// SchemaID is the $id of the report JSON Schema committed at
// schema/report.schema.json.
const SchemaID = "https://github.com/slotshift/slotshift/schema/report.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of the JSON report,
// generated from the Go types. Objects allow additional properties, so a
// report of a later 1.x format still validates; statuses and outcomes are
// closed enumerations and format_version must be 1.x.
func Schema() ([]byte, error) {
	r := &jsonschema.Reflector{
		AllowAdditionalProperties: true,
		Mapper:                    schemaMapper,
	}
	s := r.Reflect(&Report{})
	s.ID = SchemaID
	s.Title = "slotshift stage report"
	s.Description = "The JSON report of one slotshift stage run (format " + FormatVersion + ")."
	def, ok := s.Definitions["Report"]
	if !ok {
		return nil, fmt.Errorf("report schema: no Report definition")
	}
	if fv, ok := def.Properties.Get("format_version"); ok {
		fv.Pattern = `^1\.[0-9]+$`
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report schema: %w", err)
	}
	return append(b, '\n'), nil
}

// schemaMapper describes the types whose JSON form the reflector cannot
// see from their Go kind.
func schemaMapper(t reflect.Type) *jsonschema.Schema {
	switch t {
	case reflect.TypeFor[Status]():
		return enumSchema("The result of one check.", Pass, Fail, Error, Skip, Hold, Warn)
	case reflect.TypeFor[Outcome]():
		return enumSchema("The result of a whole stage; each maps to one exit code.",
			OutcomePass, OutcomeFail, OutcomeUsage, OutcomeError, OutcomeHeld, OutcomeInterrupted)
	case reflect.TypeFor[Seconds]():
		return &jsonschema.Schema{Type: "number", Description: "A duration in seconds, written with three decimals."}
	}
	return nil
}

func enumSchema[T ~string](desc string, values ...T) *jsonschema.Schema {
	s := &jsonschema.Schema{Type: "string", Description: desc}
	for _, v := range values {
		s.Enum = append(s.Enum, string(v))
	}
	return s
}
