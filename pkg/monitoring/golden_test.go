package monitoring

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenInventories are the inventories whose generated files are pinned.
var goldenInventories = []string{"prod-5x2.yaml", "sandbox-3x2.yaml"}

func load(t testing.TB, name string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Load(filepath.Join("..", "..", "testdata", "inventories", name))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// generate writes inv's files into a temp directory and returns it with
// the files.
func generate(t testing.TB, inv *inventory.Inventory, opts Options) (string, []File) {
	t.Helper()
	files, err := Generate(inv, opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

// TestGolden pins every generated file for the example inventories, so
// that a change in a rule, a label or the dashboard shows up in review.
// Regenerate with: go test ./pkg/monitoring -run Golden -update
func TestGolden(t *testing.T) {
	for _, name := range goldenInventories {
		inv := load(t, name)
		_, files := generate(t, inv, Options{})
		for _, f := range files {
			t.Run(name+"/"+f.Name, func(t *testing.T) {
				path := filepath.Join("testdata", inv.Cluster.Name, f.Name+".golden")
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if !bytes.Equal(f.Data, want) {
					t.Errorf("%s differs from %s (run with -update if the change is intended):\n%s", f.Name, path, f.Data)
				}
			})
		}
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	inv := load(t, "prod-5x2.yaml")
	a, err := Generate(inv, Options{ScrapeInterval: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, err := Generate(inv, Options{ScrapeInterval: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for i := range a {
			if !bytes.Equal(a[i].Data, b[i].Data) {
				t.Fatalf("%s differs between two runs", a[i].Name)
			}
		}
	}
}
