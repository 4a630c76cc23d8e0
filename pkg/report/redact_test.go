package report

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

const testPassword = "s3cr3t-Passw0rd-XYZ"

// A throwaway key-shaped secret: what matters is its multi-line shape.
const testKey = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDx0d2VhbXBsZV9rZXlfbWF0ZXJpYWxfZm9yX3Rlc3RzX29ubHkAAAAJ
AAAA
-----END OPENSSH PRIVATE KEY-----
`

var keyLines = []string{
	"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
	"QyNTUxOQAAACDx0d2VhbXBsZV9rZXlfbWF0ZXJpYWxfZm9yX3Rlc3RzX29ubHkAAAAJ",
}

func TestRedact(t *testing.T) {
	x := NewRedactor(testPassword, "", "   ", testKey, "abc")
	for _, tc := range []struct{ in, want string }{
		{"auth " + testPassword + " failed", "auth *** failed"},
		{"key line " + keyLines[1] + " leaked", "key line *** leaked"},
		{"whole key: " + testKey, "whole key: ***"},
		{"abcdef", "***def"},
		// The longest secret wins over a shorter one that is part of it.
		{"x" + testPassword + "x", "x***x"},
		// A short key line ("AAAA") is not redacted on its own.
		{"AAAA and spaces", "AAAA and spaces"},
		{"", ""},
	} {
		if got := x.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	var nilRed *Redactor
	if nilRed.Redact(testPassword) != testPassword || NewRedactor().Redact(testPassword) != testPassword {
		t.Error("an empty redactor changed text")
	}
	if NewRedactor("  ").Redact("a  b") != "a  b" {
		t.Error("a blank secret redacted whitespace")
	}
}

// fillStrings sets every string reachable from v (through structs,
// slices, maps, pointers and interfaces) to a text containing secret,
// growing empty slices and maps by one element. Because it walks the
// types by reflection, a field added to the model later is covered too.
func fillStrings(v reflect.Value, secret string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("before " + secret + " after")
	case reflect.Struct:
		if v.Type() == timeType {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillStrings(v.Field(i), secret)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillStrings(s.Index(0), secret)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		e := reflect.New(v.Type().Elem()).Elem()
		fillStrings(k, secret)
		fillStrings(e, secret)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillStrings(p.Elem(), secret)
		v.Set(p)
	case reflect.Interface:
		v.Set(reflect.ValueOf(map[string]any{"nested": []any{"in " + secret}, secret: 1.5}))
	}
}

// findStrings reports every string reachable from v that contains s.
func findStrings(v reflect.Value, s, path string, found *[]string) {
	switch v.Kind() {
	case reflect.String:
		if strings.Contains(v.String(), s) {
			*found = append(*found, path)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				findStrings(v.Field(i), s, path+"."+v.Type().Field(i).Name, found)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			findStrings(v.Index(i), s, path+"[]", found)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			findStrings(iter.Key(), s, path+"{key}", found)
			findStrings(iter.Value(), s, path+"{}", found)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			findStrings(v.Elem(), s, path, found)
		}
	}
}

func TestRedactEveryField(t *testing.T) {
	secrets := []string{testPassword, keyLines[0]} // a password and a line of a key
	red := NewRedactor(testPassword, testKey)
	for _, secret := range secrets {
		r := &Report{}
		fillStrings(reflect.ValueOf(r).Elem(), secret)
		r.Stage = "verify" // names the files
		var before []string
		findStrings(reflect.ValueOf(r), secret, "Report", &before)
		if len(before) < 30 {
			t.Fatalf("fill reached only %d strings: %v", len(before), before)
		}

		c := red.Report(r)
		var left []string
		findStrings(reflect.ValueOf(c), secret, "Report", &left)
		if len(left) > 0 {
			t.Errorf("secret left in %v", left)
		}
		var still []string
		findStrings(reflect.ValueOf(r), secret, "Report", &still)
		if len(still) != len(before) {
			t.Error("Report modified the caller's report")
		}

		dir := t.TempDir()
		jp, xp, err := Write(dir, r, red)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{jp, xp} {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range append([]string{testPassword}, keyLines...) {
				if strings.Contains(string(b), s) {
					t.Errorf("%s contains a secret", p)
				}
			}
			if !strings.Contains(string(b), Redacted) {
				t.Errorf("%s shows no redaction marker", p)
			}
		}
	}
}

func TestRedactKeepsObservedValues(t *testing.T) {
	x := NewRedactor(testPassword)
	type custom struct{ A int }
	r := &Report{Checks: []Check{
		{ID: "n", Observed: 12345678901, Threshold: custom{A: 3}},
		{ID: "s", Observed: map[string]any{"auth": testPassword}},
	}}
	c := x.Report(r)
	if c.Checks[0].Observed != 12345678901 || c.Checks[0].Threshold != (custom{A: 3}) {
		t.Errorf("untouched values changed: %#v %#v", c.Checks[0].Observed, c.Checks[0].Threshold)
	}
	m, ok := c.Checks[1].Observed.(map[string]any)
	if !ok || m["auth"] != Redacted {
		t.Errorf("observed map not redacted: %#v", c.Checks[1].Observed)
	}
	if r.Checks[1].Observed.(map[string]any)["auth"] != testPassword {
		t.Error("caller's observed map was modified")
	}
}
