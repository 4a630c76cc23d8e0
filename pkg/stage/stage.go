package stage

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/migrate"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/tlsconf"
)

// Secrets are the credentials a stage may need. They come only from the
// environment (names given by the inventory) and never reach argv, logs or
// reports.
type Secrets struct {
	Username      string // ACL user; "" = default user
	Password      string // requirepass/masterauth
	SSHKey        string // PEM private key content
	SSHPassphrase string
	KnownHosts    string // known_hosts lines
	// TLS is the client TLS configuration built from cluster.tls; nil =
	// plain TCP.
	TLS *tls.Config
	// TLSKey is the PEM private key TLS was built from (a secret); the
	// certificates are not secret.
	TLSKey string
	// TLSCerts lists the CA and client certificates with their expiry,
	// for the tls.validity check.
	TLSCerts []tlsconf.Cert
	// TLSMaterial is the PEM TLS was built from, for provision to install.
	TLSMaterial *tlsconf.Material
}

// Values returns every non-empty secret (for masking and scrubbing).
func (s Secrets) Values() []string {
	var out []string
	// Maskers split keys into lines themselves (report.secretParts).
	for _, v := range []string{s.Password, s.SSHKey, s.SSHPassphrase, s.TLSKey} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Env is what every stage is given: the desired state, the secrets, a
// logger and a writer for the human status line.
type Env struct {
	Inventory *inventory.Inventory
	Secrets   Secrets
	Log       *slog.Logger
	// Status receives the human progress line (stderr by default); nil = discard.
	Status io.Writer
	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

// Result is what a stage found and did. A failed check is data here; an
// error returned beside a Result means the stage could not finish.
type Result struct {
	Checks      []report.Check
	Summary     []string
	Outputs     map[string]string
	Fingerprint string
	Masters     int
	Replicas    int
	Join        *report.JoinSection
	Rebalance   *report.RebalanceSection
	Provision   *report.ProvisionSection
	Load        *report.LoadSection
	Failover    *report.FailoverSection
}

// Add appends checks to the result.
func (r *Result) Add(c ...report.Check) { r.Checks = append(r.Checks, c...) }

// Outcome derives the stage outcome from the checks: any fail or error is
// fail, otherwise any hold is held, otherwise pass.
func (r *Result) Outcome() report.Outcome {
	held := false
	for _, c := range r.Checks {
		switch c.Status {
		case report.Fail, report.Error:
			return report.OutcomeFail
		case report.Hold:
			held = true
		}
	}
	if held {
		return report.OutcomeHeld
	}
	return report.OutcomePass
}

// ErrHeld means gates stayed red past hold_timeout (or a key too big to
// move was found); the cluster is consistent and the run can be retried
// later (exit 75). It is the migrate executor's sentinel: the rebalance
// stage turns it into a hold check, and any error that still wraps it maps
// to exit 75.
var ErrHeld = migrate.ErrHeld

// ErrAborted means an abort threshold or the abort file stopped the run at
// a slot boundary (exit 1). It is the migrate executor's sentinel, as
// ErrHeld.
var ErrAborted = migrate.ErrAborted

// UsageError is bad input: flags, inventory, or a request the stage refuses
// before changing anything (exit 2).
type UsageError struct {
	Err  error
	Hint string
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a *UsageError.
func Usagef(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}
