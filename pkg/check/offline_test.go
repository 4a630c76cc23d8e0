package check

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/check/checktest"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

// ruleRE finds the rule id an invalid inventory's first line names.
var ruleRE = regexp.MustCompile(`\((inventory\.[a-z_]+)\)`)

func TestOfflineInventoryFiles(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "inventories")
	offline := Offline{Password: "a-password-long-enough"}
	for _, name := range []string{"sandbox-3x2.yaml", "prod-3x2.yaml", "prod-5x2.yaml", "sandbox-5x2.yaml", "sandbox-3x2.json"} {
		t.Run(name, func(t *testing.T) {
			inv, err := inventory.Load(filepath.Join(dir, name))
			if err != nil {
				if os.IsNotExist(err) {
					t.Skipf("%s not written yet", name)
				}
				t.Fatal(err)
			}
			checks := OfflineChecks(inv, offline)
			if f := Failed(checks); len(f) > 0 {
				t.Errorf("valid inventory has failures: %+v", f)
			}
			// Passing rules are listed too: a report of what was checked.
			for _, id := range inventory.Rules {
				if len(checktest.Find(checks, id, "")) == 0 {
					t.Errorf("rule %s missing from the checks", id)
				}
			}
			checktest.Want(t, checks, inventory.RulePassword, "", report.Pass)
		})
	}
	files, _ := filepath.Glob(filepath.Join(dir, "invalid", "*.yaml"))
	for _, path := range files {
		t.Run("invalid/"+filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			m := ruleRE.FindStringSubmatch(first)
			inv, err := inventory.Parse(path, data)
			if m == nil {
				if err == nil {
					t.Fatalf("%s names no rule, so it must fail to parse", path)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var base *inventory.Inventory
			if m[1] == inventory.RuleNewServersInPairs {
				if base, err = inventory.Load(filepath.Join(dir, "prod-3x2.yaml")); err != nil {
					t.Fatal(err)
				}
			}
			checks := OfflineChecks(inv, Offline{Base: base, Password: offline.Password})
			got := checktest.Find(checks, m[1], "")
			failed := false
			for _, c := range got {
				if c.Status == report.Fail {
					failed = true
					if c.File != path || c.Line == 0 {
						t.Errorf("%s: finding without file:line: %+v", m[1], c)
					}
				}
			}
			if !failed {
				t.Errorf("want %s to fail, got %+v", m[1], got)
			}
		})
	}
}

func TestOfflineOddServersAndPassword(t *testing.T) {
	text := checktest.CrossYAML([]int{7000, 7002, 7004, 7006, 7001, 7003, 7005, 7007}, "")
	inv := checktest.ParseInv(t, text)
	checks := OfflineChecks(inv, Offline{})
	checktest.Want(t, checks, inventory.RuleOddServers, "", report.Warn, "4 servers")
	checktest.Want(t, checks, inventory.RulePassword, "", report.Skip, "SLOTSHIFT_PASSWORD is not set")
	checks = OfflineChecks(inv, Offline{RequireOdd: true, Password: "short"})
	checktest.Want(t, checks, inventory.RuleOddServers, "", report.Fail, "4 servers")
	c := checktest.Want(t, checks, inventory.RulePassword, "", report.Fail, "too short")
	if strings.Contains(c.Message, "short\"") || strings.Contains(c.Message, ": short") {
		t.Errorf("the password leaked: %q", c.Message)
	}
	// Online, a missing password is a failure.
	checktest.Want(t, OfflineChecks(inv, Offline{Online: true}), inventory.RulePassword, "", report.Fail, "not set")
}
