package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"time"
)

// minSecretLine is the shortest line of a multi-line secret that is
// redacted on its own. Shorter lines (a PEM key's final "AAAA==" or a blank
// line) are too common to hide without wrecking unrelated text, and reveal
// little.
const minSecretLine = 8

// Redacted is what every secret is replaced with.
const Redacted = "***"

// Redactor replaces secrets in text with "***". Build one with NewRedactor;
// the nil *Redactor redacts nothing. It is safe for concurrent use.
type Redactor struct {
	parts []string // longest first, so the longest match wins
	rep   *strings.Replacer
}

// NewRedactor returns a Redactor for the given secrets. Each non-blank
// secret is redacted whole; a multi-line secret (an SSH key) is also
// redacted line by line, for every line of at least 8 characters, so a
// fragment quoted in an error message is caught too.
func NewRedactor(secrets ...string) *Redactor {
	parts := secretParts(secrets)
	if len(parts) == 0 {
		return &Redactor{}
	}
	pairs := make([]string, 0, 2*len(parts))
	for _, p := range parts {
		pairs = append(pairs, p, Redacted)
	}
	return &Redactor{parts: parts, rep: strings.NewReplacer(pairs...)}
}

// secretParts returns the distinct strings to hide for secrets, longest
// first: strings.Replacer tries its patterns in argument order at each
// position, so a longer secret is never half-replaced by a shorter one.
func secretParts(secrets []string) []string {
	seen := map[string]bool{}
	var parts []string
	add := func(s string) {
		if strings.TrimSpace(s) == "" || seen[s] {
			return
		}
		seen[s] = true
		parts = append(parts, s)
	}
	for _, s := range secrets {
		add(s)
		add(strings.TrimSpace(s))
		if !strings.ContainsAny(s, "\r\n") {
			continue
		}
		for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
			if line = strings.TrimSpace(line); len(line) >= minSecretLine {
				add(line)
			}
		}
	}
	slices.SortStableFunc(parts, func(a, b string) int { return len(b) - len(a) })
	return parts
}

// Redact returns s with every secret replaced by "***".
func (x *Redactor) Redact(s string) string {
	if x == nil || x.rep == nil || s == "" {
		return s
	}
	return x.rep.Replace(s)
}

// Report returns a deep copy of r with every string redacted: messages,
// summary, outputs (keys and values), error, hint, diffs, commands, and
// strings inside Observed/Threshold values. The copy is also normalised
// for writing: times are UTC and nil slices that the JSON schema requires
// become empty. r is not modified. A nil *Redactor only copies and
// normalises.
func (x *Redactor) Report(r *Report) *Report {
	if r == nil {
		return nil
	}
	out := copyValue(reflect.ValueOf(r).Elem(), false, x)
	c := out.Addr().Interface().(*Report)
	return c
}

var timeType = reflect.TypeFor[time.Time]()

// copyValue deep-copies v, redacting every string with x. keepNil says a
// nil slice or map may stay nil (its JSON field is omitempty); otherwise
// it becomes empty so that the JSON says [] or {}, never null.
func copyValue(v reflect.Value, keepNil bool, x *Redactor) reflect.Value {
	t := v.Type()
	out := reflect.New(t).Elem()
	switch v.Kind() {
	case reflect.String:
		out.SetString(x.Redact(v.String()))
	case reflect.Struct:
		if t == timeType {
			out.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
			break
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			out.Field(i).Set(copyValue(v.Field(i), omitsEmpty(f), x))
		}
	case reflect.Slice:
		if v.IsNil() {
			if !keepNil {
				out.Set(reflect.MakeSlice(t, 0, 0))
			}
			break
		}
		out.Set(reflect.MakeSlice(t, v.Len(), v.Len()))
		for i := range v.Len() {
			out.Index(i).Set(copyValue(v.Index(i), false, x))
		}
	case reflect.Map:
		if v.IsNil() {
			if !keepNil {
				out.Set(reflect.MakeMap(t))
			}
			break
		}
		out.Set(reflect.MakeMapWithSize(t, v.Len()))
		iter := v.MapRange()
		for iter.Next() {
			out.SetMapIndex(copyValue(iter.Key(), false, x), copyValue(iter.Value(), false, x))
		}
	case reflect.Pointer:
		if v.IsNil() {
			break
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(copyValue(v.Elem(), false, x))
		out.Set(p)
	case reflect.Interface:
		if v.IsNil() {
			break
		}
		if r := redactAny(v.Elem().Interface(), x); r.Type().AssignableTo(t) {
			out.Set(r)
		} else {
			out.Set(v)
		}
	default:
		out.Set(v)
	}
	return out
}

// omitsEmpty reports whether a struct field's JSON tag lets it be left out.
func omitsEmpty(f reflect.StructField) bool {
	tag := f.Tag.Get("json")
	return tag == "-" || strings.Contains(tag, ",omitempty") || strings.Contains(tag, ",omitzero")
}

// redactAny redacts a free-form value (Check.Observed, Check.Threshold).
// Its dynamic type is unknown, so it goes through JSON: the value is
// replaced by its decoded, redacted JSON form only when that changed
// something, which keeps numbers and custom types as they were otherwise.
func redactAny(v any, x *Redactor) reflect.Value {
	if s, ok := v.(string); ok {
		return reflect.ValueOf(x.Redact(s))
	}
	if x == nil || x.rep == nil {
		return reflect.ValueOf(v)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return reflect.ValueOf(v) // the writer reports the error
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return reflect.ValueOf(v)
	}
	red, changed := redactGeneric(generic, x)
	if !changed {
		return reflect.ValueOf(v)
	}
	return reflect.ValueOf(&red).Elem()
}

// redactGeneric redacts the strings (and object keys) of a decoded JSON
// value and says whether anything changed.
func redactGeneric(v any, x *Redactor) (any, bool) {
	switch v := v.(type) {
	case string:
		r := x.Redact(v)
		return r, r != v
	case []any:
		changed := false
		for i, e := range v {
			var c bool
			v[i], c = redactGeneric(e, x)
			changed = changed || c
		}
		return v, changed
	case map[string]any:
		out := make(map[string]any, len(v))
		changed := false
		for k, e := range v {
			re, c := redactGeneric(e, x)
			rk := x.Redact(k)
			out[rk] = re
			changed = changed || c || rk != k
		}
		return out, changed
	}
	return v, false
}
