package report

import (
	"fmt"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	want := `slotshift validate: fail (exit 1) in 0.087s
  5 checks: 3 fail, 1 warn, 1 pass
  FAIL  inventory.servers_odd inventory/prod.yml:7: 4 servers: the number of servers must be odd
        hint: add or remove one server
  FAIL  inventory.new_in_pairs [server4] inventory/prod.yml:31: server4 is new without a partner new servers come in pairs
  FAIL  inventory.replica_placement [server4:7001] inventory/prod.yml:34: replica server4:7001 sits on its master's server (<same> "host")
  WARN  inventory.password inventory/prod.yml:4: password from REDIS_ACCESSKEY has 16 characters; 32 recommended
`
	if got := Text(validateFail()); got != want {
		t.Errorf("Text =\n%s\nwant\n%s", got, want)
	}

	got := Text(rebalanceHeld())
	for _, line := range []string{
		"slotshift rebalance: held (exit 75) in 42.500s\n",
		"  HOLD  gate.latency_p99 [10.0.0.2:7000] (batch 2): p99 35 ms over the hold threshold for 10m0s\n",
		"  error: held: gates stayed red for 10m0s\n",
		"  rebalance: 100 slots, 12000 keys moved; 2 batches run, 1 remaining; done: false\n",
		"  pace: min 0.00 · median 0.31 over 2 source(s) · below the steady floor 240.0s · exhausted 600.0s · at the end 10.0.0.2:7000 0.00 (10 keys/MIGRATE, 175% of budget, exhausted)\n",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("held Text lacks %q:\n%s", line, got)
		}
	}
	if strings.Contains(got, "PASS") {
		t.Errorf("passing checks listed:\n%s", got)
	}
}

func TestTextCapsCheckList(t *testing.T) {
	r := base("verify", OutcomeFail, 1, 0)
	for i := range 30 {
		r.Checks = append(r.Checks, Check{ID: fmt.Sprint("c", i), Status: Fail, Message: "no"})
	}
	got := Text(r)
	if n := strings.Count(got, "  FAIL  "); n != maxTextChecks {
		t.Errorf("%d checks listed, want %d", n, maxTextChecks)
	}
	if !strings.Contains(got, "… and 10 more") {
		t.Errorf("no count of the rest:\n%s", got)
	}
}
