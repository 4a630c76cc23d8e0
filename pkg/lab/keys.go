package lab

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// keyPair is an ed25519 key as OpenSSH files hold it.
type keyPair struct {
	private []byte        // OpenSSH PEM, no passphrase
	public  ssh.PublicKey // for authorized_keys and known_hosts
}

func newKeyPair(comment string) (keyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("lab key: %w", err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return keyPair{}, fmt.Errorf("lab key: %w", err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return keyPair{}, fmt.Errorf("lab key: %w", err)
	}
	return keyPair{private: pem.EncodeToMemory(blk), public: sp}, nil
}

// authorizedKey is the public half as one authorized_keys line.
func (k keyPair) authorizedKey() []byte { return ssh.MarshalAuthorizedKey(k.public) }

// knownHostsLine is the known_hosts line for a host key served on addr,
// port 22.
func knownHostsLine(addr string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(net.JoinHostPort(addr, "22"))}, key)
}
