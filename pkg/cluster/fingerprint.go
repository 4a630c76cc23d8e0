package cluster

import (
	"crypto/sha256"
	"encoding/hex"
)

// Fingerprint is a short, stable digest of a slot map signature. Plans record
// the fingerprint of the state they were computed from; an executor refuses to
// run a plan whose fingerprint no longer matches the live cluster.
func Fingerprint(nodes []Node) string {
	sum := sha256.Sum256([]byte(Signature(nodes)))
	return hex.EncodeToString(sum[:8])
}
