package stage

import (
	"context"
	"errors"
	"time"

	"github.com/slotshift/slotshift/pkg/acl"
	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/migrate"
	"github.com/slotshift/slotshift/pkg/report"
)

// tlsChecks are validate's TLS checks: the certificates' remaining
// validity against cluster.tls.min_validity. Offline too: the material
// is in the environment, not on the nodes.
func tlsChecks(env Env) []report.Check {
	inv := env.Inventory
	if !inv.TLSEnabled() {
		return nil
	}
	if len(env.Secrets.TLSCerts) == 0 {
		c := check.New(check.IDTLSValidity, report.Skip, "", "the TLS material (cluster.tls) is not in the environment: validity not checked")
		c.File, c.Line = inv.Source, inv.Cluster.TLS.Line
		return []report.Check{c}
	}
	certs := make([]check.Cert, len(env.Secrets.TLSCerts))
	for i, c := range env.Secrets.TLSCerts {
		certs[i] = check.Cert{Source: c.Source, Subject: c.Subject, NotAfter: c.NotAfter}
	}
	now := time.Now()
	if env.Now != nil {
		now = env.Now()
	}
	return check.CheckTLSValidity(inv, certs, now, inv.Cluster.TLS.MinValidity.Duration)
}

// aclUser is the user ACL DRYRUN judges: the inventory's, else default.
func (s Secrets) aclUser() string {
	if s.Username == "" {
		return "default"
	}
	return s.Username
}

// aclProbes asks every address, with ACL DRYRUN, whether the user may run
// each command of acl.Commands.
func (o *observer) aclProbes(ctx context.Context, addrs []string) map[string]check.ACLProbe {
	user := o.secrets.aclUser()
	return perNode(ctx, addrs, func(ctx context.Context, addr string) check.ACLProbe {
		// A server with atomic slot migration or per-slot statistics
		// gets their commands too (rebalance's auto mover sends them);
		// one without is not asked about commands it does not know.
		cmds := acl.Commands()
		if caps, err := migrate.ProbeCapabilities(ctx, o.pool, addr); err == nil {
			cmds = append(cmds, acl.FeatureCommands(acl.Features{RedisASM: caps.RedisASM, ValkeyASM: caps.ValkeyASM, SlotStats: caps.SlotStats})...)
		}
		args := make([][]string, len(cmds))
		for i, c := range cmds {
			args[i] = c.Args
		}
		res, err := o.pool.ACLDryRun(ctx, addr, user, args)
		if err != nil {
			var ne *admin.NodeError
			msg := err.Error()
			if errors.As(err, &ne) {
				msg = ne.Err.Error()
			}
			return check.ACLProbe{Err: msg, NoPerm: admin.IsNoPerm(err)}
		}
		p := check.ACLProbe{Denied: map[string]string{}}
		for i, r := range res {
			switch {
			case r.Denied != "":
				p.Denied[cmds[i].Name()] = r.Denied
			case r.Err != nil:
				p.Denied[cmds[i].Name()] = "ACL DRYRUN: " + r.Err.Error()
			}
		}
		return p
	})
}
