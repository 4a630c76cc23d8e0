package check

import (
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

func TestCheckTLSValidity(t *testing.T) {
	inv := fakeInv(t, "")
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	min := 14 * 24 * time.Hour
	tests := []struct {
		name     string
		notAfter time.Time
		want     report.Status
		contains string
	}{
		{"a year left", now.AddDate(1, 0, 0), report.Pass, "365 days from now"},
		{"just over the minimum", now.Add(min + time.Minute), report.Pass, "valid until"},
		{"within the minimum", now.Add(min - time.Hour), report.Fail, "less than cluster.tls.min_validity 14 days"},
		{"expires in an hour", now.Add(time.Hour), report.Fail, "in 1h0m0s"},
		{"expired", now.Add(-time.Hour), report.Fail, "expired on 2026-12-03T11:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckTLSValidity(inv, []Cert{{Source: "cert MY_CERT", Subject: "CN=node", NotAfter: tc.notAfter}}, now, min)
			if len(got) != 1 || got[0].ID != IDTLSValidity || got[0].Status != tc.want || !strings.Contains(got[0].Message, tc.contains) {
				t.Fatalf("got %+v, want one %s check containing %q", got, tc.want, tc.contains)
			}
			if !strings.Contains(got[0].Message, "MY_CERT") || got[0].File == "" {
				t.Errorf("check does not name the variable or the file: %+v", got[0])
			}
		})
	}
}

func TestCheckTLSVerify(t *testing.T) {
	if got := CheckTLSVerify(fakeInv(t, "")); got != nil {
		t.Errorf("no tls block: %+v", got)
	}
	inv := fakeInv(t, "")
	inv.Cluster.TLS = &inventory.TLS{CAEnv: "A", CertEnv: "B", KeyEnv: "C", Line: 4}
	if got := CheckTLSVerify(inv); got != nil {
		t.Errorf("verified tls: %+v", got)
	}
	inv.Cluster.TLS.InsecureSkipVerify = true
	got := CheckTLSVerify(inv)
	if len(got) != 1 || got[0].Status != report.Warn || !strings.Contains(got[0].Message, "NOT verified") || got[0].Line != 4 {
		t.Errorf("insecure_skip_verify: %+v, want one warning on line 4", got)
	}
}

func TestCheckACL(t *testing.T) {
	inv := fakeInv(t, "")
	addrs := []string{"127.0.0.1:7000", "127.0.0.1:7002", "127.0.0.1:7004"}
	all := func(p ACLProbe) map[string]ACLProbe {
		m := map[string]ACLProbe{}
		for _, a := range addrs {
			m[a] = p
		}
		return m
	}
	got := CheckACL(inv, "ops", all(ACLProbe{Denied: map[string]string{}}))
	if len(got) != 1 || got[0].Status != report.Pass || !strings.Contains(got[0].Message, `user "ops" may run all`) {
		t.Errorf("all allowed: %+v", got)
	}

	denied := all(ACLProbe{Denied: map[string]string{"MIGRATE": "User ops has no permissions to run the 'migrate' command"}})
	denied[addrs[0]] = ACLProbe{Denied: map[string]string{
		"MIGRATE":         "User ops has no permissions to run the 'migrate' command",
		"CLUSTER SETSLOT": "User ops has no permissions to run the 'cluster|setslot' command",
	}}
	got = CheckACL(inv, "ops", denied)
	if len(got) != 2 {
		t.Fatalf("want one failure per refused command, got %+v", got)
	}
	if got[0].Status != report.Fail || !strings.Contains(got[0].Message, "may not run CLUSTER SETSLOT (needed by rebalance) on 127.0.0.1:7000 (server1:7000)") {
		t.Errorf("first: %+v", got[0])
	}
	if got[1].Status != report.Fail || !strings.Contains(got[1].Message, "may not run MIGRATE") || !strings.Contains(got[1].Message, "server3:7004") {
		t.Errorf("second: %+v", got[1])
	}

	noPerm := all(ACLProbe{Denied: map[string]string{}})
	noPerm[addrs[1]] = ACLProbe{Err: "NOPERM User ops has no permissions to run the 'acl|dryrun' command", NoPerm: true}
	got = CheckACL(inv, "ops", noPerm)
	if len(got) != 1 || got[0].Status != report.Warn || !strings.Contains(got[0].Message, "may not run ACL DRYRUN") || !strings.Contains(got[0].Hint, "+acl|dryrun") {
		t.Errorf("no ACL DRYRUN permission must be said, not passed: %+v", got)
	}
}

// TestCheckACLFeatureCommand: a refused command that only servers with
// atomic slot migration take is named with the stage that sends it and
// a hint at the server's extra rule.
func TestCheckACLFeatureCommand(t *testing.T) {
	inv := fakeInv(t, "")
	probes := map[string]ACLProbe{"127.0.0.1:7000": {Denied: map[string]string{
		"CLUSTER MIGRATION": "User ops has no permissions to run the 'cluster|migration' command"}}}
	got := CheckACL(inv, "ops", probes)
	if len(got) != 1 || got[0].Status != report.Fail || !strings.Contains(got[0].Message, "may not run CLUSTER MIGRATION (needed by rebalance)") ||
		!strings.Contains(got[0].Hint, "extra rule") {
		t.Errorf("a refused feature command: %+v", got)
	}
	probes["127.0.0.1:7000"] = ACLProbe{Denied: map[string]string{"MIGRATE": "no permissions"}}
	if got := CheckACL(inv, "ops", probes); len(got) != 1 || strings.Contains(got[0].Hint, "extra rule") {
		t.Errorf("a refused base command hints at the extra rule: %+v", got)
	}
	// READONLY is optional: rebalance lists keys on the masters without it.
	probes["127.0.0.1:7000"] = ACLProbe{Denied: map[string]string{"READONLY": "no permissions"}}
	if got := CheckACL(inv, "ops", probes); len(got) != 1 || got[0].Status != report.Warn ||
		!strings.Contains(got[0].Message, "instead of their replicas") || !strings.Contains(got[0].Hint, "+readonly") {
		t.Errorf("a refused optional command: %+v", got)
	}
}
