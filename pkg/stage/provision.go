package stage

import (
	"context"
	"fmt"
	"strconv"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/provision"
	"github.com/slotshift/slotshift/pkg/report"
)

// ProvisionInput are the provision command's flags.
type ProvisionInput struct {
	// DryRun connects and compares, reports diffs and the commands that
	// would run, and changes nothing.
	DryRun bool
	// AllowRestart lets a running node restart when a change cannot be
	// applied live.
	AllowRestart bool
	// TrustOnFirstUse accepts hosts missing from known_hosts and reports
	// their fingerprints; a mismatching key is always refused.
	TrustOnFirstUse bool
	// Dial connects to a server; nil = SSH with the secrets' key and
	// known_hosts. Tests give a runner of their own.
	Dial func(ctx context.Context, inv *inventory.Inventory, server inventory.Server) (provision.Runner, error)
}

// Provision installs and configures every server's Redis processes over
// SSH/SFTP. Per-server problems are failed checks; the error is for a run
// that could not start or was cancelled.
func Provision(ctx context.Context, env Env, in ProvisionInput) (Result, error) {
	inv := env.Inventory
	if inv == nil {
		return Result{}, Usagef("provision: no inventory")
	}
	if env.Secrets.Password == "" {
		return Result{}, &UsageError{Err: fmt.Errorf("provision: no password"), Hint: "set " + inventory.PasswordEnv(inv)}
	}
	if env.Secrets.SSHKey == "" {
		return Result{}, &UsageError{Err: fmt.Errorf("provision: no SSH private key"), Hint: "set SLOTSHIFT_SSH_KEY"}
	}
	if env.Secrets.KnownHosts == "" && !in.TrustOnFirstUse {
		return Result{}, &UsageError{Err: fmt.Errorf("provision: no known_hosts: host keys cannot be verified"),
			Hint: "set SLOTSHIFT_SSH_KNOWN_HOSTS (ssh-keyscan output verified out of band)"}
	}
	sec, checks, err := provision.Run(ctx, inv, provision.Options{
		Password:        env.Secrets.Password,
		Username:        env.Secrets.Username,
		TLS:             env.Secrets.TLS,
		TLSMaterial:     env.Secrets.TLSMaterial,
		Key:             env.Secrets.SSHKey,
		Passphrase:      env.Secrets.SSHPassphrase,
		KnownHosts:      env.Secrets.KnownHosts,
		TrustOnFirstUse: in.TrustOnFirstUse,
		DryRun:          in.DryRun,
		AllowRestart:    in.AllowRestart,
		Log:             env.Log,
		Dial:            in.Dial,
	})
	res := Result{Checks: checks, Provision: sec, Outputs: map[string]string{}}
	res.Masters, res.Replicas = provisionRoles(inv)
	if sec != nil {
		changed := 0
		for _, s := range sec.Servers {
			n := 0
			for _, f := range s.Files {
				if f.Changed {
					n++
				}
			}
			changed += n
			verb := "changed"
			if sec.DryRun {
				verb = "would change"
			}
			line := fmt.Sprintf("%s: %d of %d files %s", s.Server, n, len(s.Files), verb)
			if len(s.Restarts) > 0 {
				line += fmt.Sprintf(", %d nodes need a restart", len(s.Restarts))
			}
			res.Summary = append(res.Summary, line)
		}
		res.Outputs["files-changed"] = strconv.Itoa(changed)
	}
	if len(res.Checks) == 0 && err == nil {
		res.Add(report.Check{ID: "provision.servers", Status: report.Skip, Message: "no servers in the inventory"})
	}
	return res, err
}

func provisionRoles(inv *inventory.Inventory) (masters, replicas int) {
	for _, s := range inv.Servers {
		for _, n := range s.Nodes {
			if n.Role == inventory.RoleMaster {
				masters++
			} else {
				replicas++
			}
		}
	}
	return masters, replicas
}
