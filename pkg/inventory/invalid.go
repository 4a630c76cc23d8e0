package inventory

// structural lists the rules whose failure makes an inventory unusable by
// any stage: the desired state itself is contradictory or incomplete. The
// other rules (at least 3 masters, odd server count, new servers in pairs,
// every master replicated, password strength) are policy: validate fails on
// them, but a stage asked to act on such an inventory may still do so.
var structural = map[string]bool{
	RuleUniqueServer:  true,
	RuleUniqueAddress: true,
	RulePortRange:     true,
	RuleReplicaOf:     true,
	RuleAntiAffinity:  true,
	RulePlacement:     true,
	RulePasswordEnv:   true,
	RuleGates:         true,
	RuleSettings:      true,
}

// Invalid returns the failed findings that make the inventory unusable
// (exit code 2 in every stage).
func Invalid(findings []Finding) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.Severity == SeverityFail && structural[f.ID] {
			out = append(out, f)
		}
	}
	return out
}
