package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary text to Parse, and what parses to Check and
// PlaceReplicas: none may panic, and Parse returns either an inventory or
// an *Error whose problems all name the file.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"*.yaml", "*.json", "invalid/*.yaml"} {
		files, _ := filepath.Glob(filepath.Join(inventories, pattern))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(valid))
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	f.Add([]byte("version: 1\nservers: [{name: s, address: a, nodes: [{port: 1, role: replica}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := Parse("fuzz.yaml", data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || len(pe.Problems) == 0 {
				t.Fatalf("error is not a non-empty *Error: %T %v", err, err)
			}
			for _, p := range pe.Problems {
				if p.File != "fuzz.yaml" || p.Message == "" {
					t.Fatalf("bad problem %+v", p)
				}
			}
			return
		}
		_ = Check(inv, inv)
		_ = CheckSecrets(inv, func(string) string { return "" })
		_, _ = PlaceReplicas(inv, nil)
	})
}
