package admin

import (
	"context"
	"fmt"
)

// DryRun is ACL DRYRUN's verdict on one command: Denied is "" when the
// user may run it, else the server's reason ("User u has no permissions
// to run the 'migrate' command").
type DryRun struct {
	Denied string
	// Err is set when DRYRUN could not judge the command (an unknown
	// command, wrong arity).
	Err error
}

// ACLDryRun asks the node at addr whether user may run each command (ACL
// DRYRUN user cmd args…, Redis ≥ 7.0), in one pipeline. DRYRUN runs
// nothing. The error is non-nil when ACL DRYRUN itself cannot run: the
// connection failed, the caller may not run ACL DRYRUN (NOPERM), or the
// server predates it; IsNoPerm tells the second apart.
func (p *Pool) ACLDryRun(ctx context.Context, addr, user string, cmds [][]string) ([]DryRun, error) {
	pipe := p.Client(addr).Pipeline()
	for _, c := range cmds {
		args := []any{"ACL", "DRYRUN", user}
		for _, a := range c {
			args = append(args, a)
		}
		pipe.Do(ctx, args...)
	}
	res, _ := pipe.Exec(ctx)
	out := make([]DryRun, len(cmds))
	for i, r := range res {
		txt, err := r.(interface{ Text() (string, error) }).Text()
		switch {
		case err != nil && (IsNoPerm(err) || replyHasPrefix(err, "ERR unknown subcommand") || !isReply(err)):
			// The same for every command: DRYRUN itself is the problem.
			return nil, wrap(addr, "ACL DRYRUN", err)
		case err != nil:
			out[i].Err = err
		case txt != "OK":
			out[i].Denied = txt
		}
	}
	if len(res) != len(cmds) {
		return nil, wrap(addr, "ACL DRYRUN", fmt.Errorf("%d replies to %d commands", len(res), len(cmds)))
	}
	return out, nil
}

// IsNoPerm reports whether err is an ACL refusal (NOPERM).
func IsNoPerm(err error) bool { return replyHasPrefix(err, "NOPERM") }

func isReply(err error) bool {
	_, ok := replyText(err)
	return ok
}
