package check

import (
	"fmt"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

// ruleText says what each inventory rule checks, for the pass checks that
// list what was verified.
var ruleText = map[string]string{
	inventory.RuleUniqueServer:      "server names are unique",
	inventory.RuleUniqueAddress:     "node addresses (and their bus ports) are unique",
	inventory.RulePortRange:         "ports are in range (port+10000 <= 65535)",
	inventory.RuleReplicaOf:         "every replica_of names a master as server:port",
	inventory.RuleAntiAffinity:      "no replica is declared on its master's server",
	inventory.RulePlacement:         "every replica can be placed on another server than its master",
	inventory.RuleMastersMin:        fmt.Sprintf("at least %d masters", inventory.MinMasters),
	inventory.RuleOddServers:        "an odd number of servers",
	inventory.RuleNewServersInPairs: "servers added since the base come in pairs",
	inventory.RuleMasterHasReplica:  "every master has at least one replica",
	inventory.RulePasswordEnv:       "the password is named by an environment variable",
	inventory.RuleGates:             "gate thresholds are positive with hold below abort",
	inventory.RuleSettings:          "stage settings are in range",
	inventory.RuleExporterPorts:     "every node's redis_exporter has its own address and port",
}

// Offline is what OfflineChecks needs besides the inventory.
type Offline struct {
	// Base is the inventory at the PR's base; nil: new servers are not
	// compared.
	Base *inventory.Inventory
	// RequireOdd makes an even server count fail rather than warn.
	RequireOdd bool
	// Password and Username come from the environment ("" when not set
	// there); only their lengths are judged, never printed.
	Password, Username string
	// Online is true for an online validate, which always checks the
	// password.
	Online bool
}

// OfflineChecks turns the inventory rules into checks: one per finding
// (with the inventory file and line, so CI annotates the line), and a pass
// check for every rule that found nothing. The password's length is
// checked when the password is known (always when online); its value is
// never printed.
func OfflineChecks(inv *inventory.Inventory, o Offline) []report.Check {
	base, requireOdd, online := o.Base, o.RequireOdd, o.Online
	findings := inventory.Check(inv, base)
	if o.Password != "" || online {
		findings = append(findings, inventory.CheckSecrets(inv, func(name string) string {
			switch name {
			case inv.Cluster.PasswordEnv:
				return o.Password
			case inv.Cluster.UserEnv:
				return o.Username
			}
			return ""
		})...)
	}
	var out []report.Check
	fired := map[string]bool{}
	for _, f := range findings {
		fired[f.ID] = true
		st := report.Fail
		if f.Severity == inventory.SeverityWarn {
			st = report.Warn
		}
		if f.ID == inventory.RuleOddServers && requireOdd {
			st = report.Fail
		}
		file := f.File
		if file == "" {
			file = inv.Source
		}
		c := report.Check{ID: f.ID, Status: st, Message: f.Message, Node: f.Node, File: file, Line: f.Line}
		if f.Field != "" {
			c.Tags = []string{"field:" + f.Field}
		}
		out = append(out, c)
	}
	for _, id := range inventory.Rules {
		if fired[id] {
			continue
		}
		c := report.Check{ID: id, Status: report.Pass, Message: ruleText[id], File: inv.Source}
		if c.Message == "" {
			c.Message = "rule passed"
		}
		if id == inventory.RuleNewServersInPairs && base == nil {
			c.Status, c.Message = report.Skip, "no base inventory given (--base): new servers not compared"
		}
		if id == inventory.RuleOddServers {
			c.Message = fmt.Sprintf("%d servers: an odd number", len(inv.Servers))
		}
		out = append(out, c)
	}
	if !fired[inventory.RulePassword] {
		name := inv.Cluster.PasswordEnv
		c := report.Check{ID: inventory.RulePassword, Status: report.Pass, File: inv.Source, Line: inv.Cluster.Line,
			Message: fmt.Sprintf("the password in %s has at least %d characters", name, inventory.MinPasswordLength)}
		if o.Password == "" && !online {
			c.Status = report.Skip
			c.Message = fmt.Sprintf("%s is not set here: its length is checked when it is (online validate always does)", name)
		}
		out = append(out, c)
	}
	return out
}
