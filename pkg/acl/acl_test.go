package acl

import (
	"os"
	"strings"
	"testing"
)

// TestRuleGrantsEveryCommand keeps Rule and Commands in step: every
// command slotshift sends is granted by name, and Rule grants nothing the
// list does not send (apart from ASKING, which MIGRATE's target needs).
func TestRuleGrantsEveryCommand(t *testing.T) {
	granted := map[string]bool{}
	for _, f := range strings.Fields(Rule) {
		if strings.HasPrefix(f, "+") && !strings.HasPrefix(f, "+@") {
			granted[strings.TrimPrefix(f, "+")] = true
		}
	}
	used := map[string]bool{"asking": true, "acl|dryrun": true} // MIGRATE's target; validate itself
	for _, c := range Commands() {
		name := strings.ToLower(strings.ReplaceAll(c.Name(), " ", "|"))
		used[name] = true
		if !granted[name] {
			t.Errorf("%s (sent by %v) is not granted by Rule", c.Name(), c.Stages)
		}
		for _, a := range c.Args {
			if strings.Contains(strings.ToLower(a), "pass") && a != "password" {
				t.Errorf("%s: argument %q looks like a secret", c.Name(), a)
			}
		}
	}
	for g := range granted {
		if !used[g] {
			t.Errorf("Rule grants +%s, which no command in Commands needs", g)
		}
	}
	if !strings.HasPrefix(Rule, "resetkeys ~* resetchannels -@all ") {
		t.Errorf("Rule must start from nothing: %q", Rule)
	}
}

func TestNames(t *testing.T) {
	names := Names()
	for i := 1; i < len(names); i++ {
		if names[i] <= names[i-1] {
			t.Fatalf("not sorted and distinct: %v", names)
		}
	}
	for _, want := range []string{"MIGRATE", "CLUSTER SETSLOT", "CLUSTER GETKEYSINSLOT", "MEMORY USAGE", "EVAL", "RESTORE-ASKING", "COMMAND"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("Names lacks %s: %v", want, names)
		}
	}
}

// TestREADMEGivesTheRule: the README's least-privilege rule is Rule, the
// one the pipeline test runs with.
func TestREADMEGivesTheRule(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "user slotshift on #<sha256 of the password> "+Rule+"\n") {
		t.Errorf("README.md does not give the rule as one line \"user slotshift on #<sha256 of the password> %s\"", Rule)
	}
}

// TestFeatureRuleGrantsFeatureCommands keeps each feature's commands and
// its rule in step, and adds nothing for a server without features.
func TestFeatureRuleGrantsFeatureCommands(t *testing.T) {
	if FeatureRule(Features{}) != "" || len(FeatureCommands(Features{})) != 0 {
		t.Fatalf("a server without features: rule %q, commands %v", FeatureRule(Features{}), FeatureCommands(Features{}))
	}
	for _, f := range []Features{{RedisASM: true}, {ValkeyASM: true}, {SlotStats: true}, {RedisASM: true, SlotStats: true}, {ValkeyASM: true, SlotStats: true}} {
		granted := map[string]bool{}
		for _, g := range strings.Fields(FeatureRule(f)) {
			granted[strings.TrimPrefix(g, "+")] = true
		}
		used := map[string]bool{}
		for _, c := range FeatureCommands(f) {
			name := strings.ToLower(strings.ReplaceAll(c.Name(), " ", "|"))
			used[name] = true
			if !granted[name] {
				t.Errorf("%+v: %s is not granted by %q", f, c.Name(), FeatureRule(f))
			}
			if strings.Contains(Rule, "+"+name+" ") {
				t.Errorf("%s is in Rule, which a server without the feature refuses", name)
			}
		}
		for g := range granted {
			if !used[g] {
				t.Errorf("%+v: the rule grants +%s, which no feature command needs", f, g)
			}
		}
	}
}
