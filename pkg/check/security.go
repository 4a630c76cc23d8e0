package check

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/acl"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

// Check ids of the TLS and ACL checks.
const (
	IDTLSValidity    = "tls.validity"
	IDTLSVerify      = "tls.verify"
	IDACLPermissions = "acl.permissions"
)

// Cert is a certificate of cluster.tls and when it expires.
type Cert struct {
	Source, Subject string
	NotAfter        time.Time
}

// CheckTLSValidity fails every certificate that expires within
// minValidity of now (or has expired), and passes the rest: one check per
// certificate, on the cluster.tls line. It does no I/O.
func CheckTLSValidity(inv *inventory.Inventory, certs []Cert, now time.Time, minValidity time.Duration) []report.Check {
	var out []report.Check
	for _, c := range certs {
		left := c.NotAfter.Sub(now)
		ch := New(IDTLSValidity, report.Pass, "", "%s (%s) is valid until %s, %s from now",
			c.Subject, c.Source, c.NotAfter.UTC().Format(time.RFC3339), roundDays(left))
		switch {
		case left <= 0:
			ch = New(IDTLSValidity, report.Fail, "", "%s (%s) expired on %s",
				c.Subject, c.Source, c.NotAfter.UTC().Format(time.RFC3339))
		case left < minValidity:
			ch = New(IDTLSValidity, report.Fail, "", "%s (%s) expires on %s, in %s: less than cluster.tls.min_validity %s",
				c.Subject, c.Source, c.NotAfter.UTC().Format(time.RFC3339), roundDays(left), roundDays(minValidity))
		}
		if ch.Status == report.Fail {
			ch.Hint = "renew the certificate and update its environment variable; provision installs it on the nodes"
		}
		ch.Observed, ch.Threshold, ch.Unit = math.Round(left.Hours()*10)/10, minValidity.Hours(), "h"
		ch.File, ch.Line = inv.Source, tlsLine(inv)
		out = append(out, ch)
	}
	return out
}

// CheckTLSVerify warns, loudly and on every stage, that the servers'
// certificates are not verified; nil when they are.
func CheckTLSVerify(inv *inventory.Inventory) []report.Check {
	if !inv.TLSEnabled() || !inv.Cluster.TLS.InsecureSkipVerify {
		return nil
	}
	c := New(IDTLSVerify, report.Warn, "", "cluster.tls.insecure_skip_verify is true: the nodes' certificates are NOT verified, so anyone on the path can impersonate a node")
	c.Hint = "remove insecure_skip_verify and set ca_env (and server_name if the certificates do not carry the nodes' addresses)"
	c.File, c.Line = inv.Source, tlsLine(inv)
	return []report.Check{c}
}

func tlsLine(inv *inventory.Inventory) int {
	if inv.Cluster.TLS != nil && inv.Cluster.TLS.Line > 0 {
		return inv.Cluster.TLS.Line
	}
	return inv.Cluster.Line
}

func roundDays(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.0f days", d.Hours()/24)
	}
	return d.Round(time.Minute).String()
}

// ACLProbe is what ACL DRYRUN said on one node about the commands of
// acl.Commands.
type ACLProbe struct {
	// Err says why DRYRUN could not run; NoPerm that the reason is that
	// the user may not run ACL DRYRUN itself.
	Err    string
	NoPerm bool
	// Denied maps a refused command's name ("MIGRATE") to the server's
	// reason.
	Denied map[string]string
}

// CheckACL turns the DRYRUN probes of every node into acl.permissions
// checks: one failure per command the user may not run (naming the nodes
// that refuse it and the stages that need it), a warning per node where
// the permissions could not be proven, and one pass when every node
// allows every command. It does no I/O.
func CheckACL(inv *inventory.Inventory, user string, probes map[string]ACLProbe) []report.Check {
	addrs := slices.Collect(maps.Keys(probes))
	sortByInventory(inv, addrs)
	featureCmds := acl.FeatureCommands(acl.Features{RedisASM: true, ValkeyASM: true, SlotStats: true})
	feature := map[string]bool{} // commands only servers with a feature take
	for _, c := range featureCmds {
		feature[c.Name()] = true
	}
	stages := map[string][]string{}
	without := map[string]string{} // optional commands: what happens without them
	for _, c := range append(acl.Commands(), featureCmds...) {
		if c.Without != "" {
			without[c.Name()] = c.Without
		}
		for _, s := range c.Stages {
			if !slices.Contains(stages[c.Name()], s) {
				stages[c.Name()] = append(stages[c.Name()], s)
			}
		}
	}
	refused := map[string][]string{} // command → nodes
	reason := map[string]string{}
	var out []report.Check
	for _, a := range addrs {
		p := probes[a]
		if p.Err != "" {
			c := New(IDACLPermissions, report.Warn, a, "%s: the permissions of user %q could not be proven: %s", Label(inv, a), user, p.Err)
			c.Hint = "run validate against Redis >= 7.0 (ACL DRYRUN)"
			if p.NoPerm {
				c.Message = fmt.Sprintf("%s: user %q may not run ACL DRYRUN, so its permissions could not be proven: %s", Label(inv, a), user, p.Err)
				c.Hint = "add +acl|dryrun to the user's rule (see README, ACL users), or check the rule by hand"
			}
			c.File, c.Line = LineOf(inv, a)
			out = append(out, c)
		}
		for cmd, why := range p.Denied {
			refused[cmd] = append(refused[cmd], Label(inv, a))
			reason[cmd] = why
		}
	}
	for _, cmd := range slices.Sorted(maps.Keys(refused)) {
		nodes := refused[cmd]
		c := New(IDACLPermissions, report.Fail, "", "user %q may not run %s (needed by %s) on %s: %s",
			user, cmd, strings.Join(stages[cmd], ", "), listNodes(nodes), reason[cmd])
		c.Hint = "grant the rule in README (ACL users) on every node; provision renders it"
		if feature[cmd] {
			c.Hint = "this server's atomic slot migration or slot statistics need it: add the extra rule for the server (README, ACL users)"
		}
		if w, ok := without[cmd]; ok {
			c.Status = report.Warn
			c.Message += "; without it " + w
			c.Hint = "add +" + strings.ToLower(cmd) + " to the user's rule (README, ACL users)"
		}
		c.Tags = []string{"command:" + cmd}
		out = append(out, c)
	}
	if len(refused) == 0 && len(out) == 0 {
		out = append(out, New(IDACLPermissions, report.Pass, "", "user %q may run all %d commands slotshift sends, on %d nodes (ACL DRYRUN)", user, len(acl.Names()), len(addrs)))
	}
	return out
}

func listNodes(nodes []string) string {
	if len(nodes) > 5 {
		return fmt.Sprintf("%s and %d more nodes", strings.Join(nodes[:5], ", "), len(nodes)-5)
	}
	return strings.Join(nodes, ", ")
}
