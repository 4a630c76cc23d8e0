package sshrunner

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/slotshift/slotshift/pkg/logkey"
)

// ErrUnknownHost means the server's host key is not in known_hosts.
var ErrUnknownHost = errors.New("host key not in known_hosts")

// ErrHostKeyMismatch means known_hosts holds a different key for the
// server: possibly a man in the middle.
var ErrHostKeyMismatch = errors.New("host key mismatch")

// HostKeyError names the server and the key it presented.
type HostKeyError struct {
	Server      string // inventory server name
	Addr        string // host:port
	Fingerprint string // SHA256 fingerprint of the presented key
	KeyType     string
	Err         error // ErrUnknownHost or ErrHostKeyMismatch
}

func (e *HostKeyError) Error() string {
	return fmt.Sprintf("ssh %s (%s): %v: server presented %s %s", e.Server, e.Addr, e.Err, e.KeyType, e.Fingerprint)
}

// Unwrap returns ErrUnknownHost or ErrHostKeyMismatch.
func (e *HostKeyError) Unwrap() error { return e.Err }

// Config says how to reach one server.
type Config struct {
	Name       string // server name, for messages
	Addr       string // host:port
	User       string // default root
	Key        string // PEM private key content
	Passphrase string // for an encrypted Key
	KnownHosts string // known_hosts lines
	// TrustOnFirstUse accepts a host missing from KnownHosts (never a
	// mismatching one); HostKey reports its fingerprint.
	TrustOnFirstUse bool
	// DialTimeout bounds connect plus handshake. Default 15s.
	DialTimeout time.Duration
	// CommandTimeout bounds each command and transfer. Default 5m.
	CommandTimeout time.Duration
	Log            *slog.Logger
}

// Client is a connection to one server. It is safe for concurrent use.
type Client struct {
	cfg         Config
	conn        *ssh.Client
	sudo        bool
	fingerprint string
	tofu        bool

	mu   sync.Mutex
	sftp *sftp.Client
	ids  map[string]int
}

// Dial connects to cfg.Addr, verifies its host key and authenticates.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.User == "" {
		cfg.User = "root"
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 15 * time.Second
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	signer, err := parseKey(cfg.Key, cfg.Passphrase)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", cfg.Name, err)
	}
	c := &Client{cfg: cfg, sudo: cfg.User != "root", ids: map[string]int{}}
	hostCB, algos, err := c.hostKeyCallback()
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", cfg.Name, err)
	}
	sc := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hostCB,
		HostKeyAlgorithms: algos,
		Timeout:           cfg.DialTimeout,
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ssh %s (%s): %w", cfg.Name, cfg.Addr, err)
	}
	deadline, _ := dctx.Deadline()
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(dctx, func() { _ = nc.SetDeadline(time.Now()) })
	cc, chans, reqs, err := ssh.NewClientConn(nc, cfg.Addr, sc)
	stop()
	if err != nil {
		_ = nc.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		return nil, fmt.Errorf("ssh %s (%s) as %s: %w", cfg.Name, cfg.Addr, cfg.User, err)
	}
	_ = nc.SetDeadline(time.Time{})
	c.conn = ssh.NewClient(cc, chans, reqs)
	if c.sudo {
		if _, stderr, err := c.Run(ctx, "true", nil); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("ssh %s: user %s cannot run sudo -n without a password: %w (%s)",
				cfg.Name, cfg.User, err, strings.TrimSpace(string(stderr)))
		}
	}
	return c, nil
}

func parseKey(key, passphrase string) (ssh.Signer, error) {
	if strings.TrimSpace(key) == "" {
		return nil, errors.New("no SSH private key given (SLOTSHIFT_SSH_KEY)")
	}
	if passphrase != "" {
		s, err := ssh.ParsePrivateKeyWithPassphrase([]byte(key), []byte(passphrase))
		if err != nil {
			return nil, fmt.Errorf("parse SSH private key with passphrase: %w", err)
		}
		return s, nil
	}
	s, err := ssh.ParsePrivateKey([]byte(key))
	var pm *ssh.PassphraseMissingError
	if errors.As(err, &pm) {
		return nil, errors.New("SSH private key is encrypted: set SLOTSHIFT_SSH_KEY_PASSPHRASE")
	}
	if err != nil {
		// The parser's message never contains key material.
		return nil, fmt.Errorf("parse SSH private key: %w", err)
	}
	return s, nil
}

// hostKeyCallback builds the known_hosts check and the host key algorithms
// to ask for: only those known_hosts holds for this host, so that a server
// offering several key types is not taken for a mismatch.
func (c *Client) hostKeyCallback() (ssh.HostKeyCallback, []string, error) {
	var db ssh.HostKeyCallback
	if strings.TrimSpace(c.cfg.KnownHosts) != "" {
		f, err := os.CreateTemp("", "known_hosts-*")
		if err != nil {
			return nil, nil, fmt.Errorf("known_hosts temp file: %w", err)
		}
		defer os.Remove(f.Name())
		_, werr := f.WriteString(c.cfg.KnownHosts)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, nil, fmt.Errorf("known_hosts temp file: %w", werr)
		}
		db, err = knownhosts.New(f.Name())
		if err != nil {
			return nil, nil, fmt.Errorf("parse SLOTSHIFT_SSH_KNOWN_HOSTS: %w", err)
		}
	} else if !c.cfg.TrustOnFirstUse {
		return nil, nil, errors.New("no known_hosts given (SLOTSHIFT_SSH_KNOWN_HOSTS) and trust on first use is off")
	}

	var algos []string
	if db != nil {
		_, probe, _ := ed25519.GenerateKey(rand.Reader)
		if pk, err := ssh.NewPublicKey(probe.Public()); err == nil {
			var ke *knownhosts.KeyError
			if err := db(c.cfg.Addr, &net.TCPAddr{}, pk); errors.As(err, &ke) {
				for _, k := range ke.Want {
					algos = append(algos, algorithmsFor(k.Key.Type())...)
				}
			}
		}
	}
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		c.fingerprint = ssh.FingerprintSHA256(key)
		hkErr := &HostKeyError{Server: c.cfg.Name, Addr: c.cfg.Addr, Fingerprint: c.fingerprint, KeyType: key.Type()}
		if db == nil {
			c.tofu = true
			c.cfg.Log.Warn("ssh host key trusted on first use", logkey.Server, c.cfg.Name, "fingerprint", c.fingerprint)
			return nil
		}
		err := db(hostname, remote, key)
		var ke *knownhosts.KeyError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke) && len(ke.Want) > 0:
			hkErr.Err = ErrHostKeyMismatch
			return hkErr
		case errors.As(err, &ke):
			if c.cfg.TrustOnFirstUse {
				c.tofu = true
				c.cfg.Log.Warn("ssh host key trusted on first use", logkey.Server, c.cfg.Name, "fingerprint", c.fingerprint)
				return nil
			}
			hkErr.Err = ErrUnknownHost
			return hkErr
		default:
			return fmt.Errorf("known_hosts check: %w", err)
		}
	}
	return cb, algos, nil
}

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// HostKey returns the SHA256 fingerprint of the server's host key and
// whether it was accepted only because trust on first use was on.
func (c *Client) HostKey() (fingerprint string, trustedOnFirstUse bool) {
	return c.fingerprint, c.tofu
}

// Sudo reports whether commands run through "sudo -n".
func (c *Client) Sudo() bool { return c.sudo }

// Run runs cmd with sh on the server (through sudo -n for a non-root
// user), feeding stdin, and returns its output. A non-zero exit is an
// error that carries the exit status (see ExitStatus).
func (c *Client) Run(ctx context.Context, cmd string, stdin io.Reader) ([]byte, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	sess, err := c.conn.NewSession()
	if err != nil {
		return nil, nil, fmt.Errorf("ssh %s: new session: %w", c.cfg.Name, err)
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if stdin != nil {
		sess.Stdin = stdin
	}
	full := "sh -c " + Quote(cmd)
	if c.sudo {
		full = "sudo -n " + full
	}
	if err := sess.Start(full); err != nil {
		return nil, nil, fmt.Errorf("ssh %s: start %q: %w", c.cfg.Name, cmd, err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Do not wait for the remote side: a server that ignores the
		// signal would hold us past the deadline. The output buffers may
		// still be written by the session, so they are not returned.
		_ = sess.Signal(ssh.SIGKILL)
		_ = sess.Close()
		return nil, nil, fmt.Errorf("ssh %s: %q: %w", c.cfg.Name, cmd, ctx.Err())
	}
	if err != nil {
		return stdout.Bytes(), stderr.Bytes(), &CommandError{Server: c.cfg.Name, Cmd: cmd, Err: err,
			Stderr: strings.TrimSpace(string(stderr.Bytes()))}
	}
	return stdout.Bytes(), stderr.Bytes(), nil
}

// CommandError is a remote command that failed.
type CommandError struct {
	Server string
	Cmd    string
	Stderr string
	Err    error
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("ssh %s: %q: %v", e.Server, e.Cmd, e.Err)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

// ExitStatus returns the remote exit status in err, or -1.
func ExitStatus(err error) int {
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus()
	}
	return -1
}

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (c *Client) sftpClient() (*sftp.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	s, err := sftp.NewClient(c.conn)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: sftp: %w", c.cfg.Name, err)
	}
	c.sftp = s
	return s, nil
}

// exitMissing is the status the sudo read path uses for "no such file".
const exitMissing = 44

// ReadFile returns the content of path; a missing file is an error that
// matches os.ErrNotExist.
func (c *Client) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if c.sudo {
		out, _, err := c.Run(ctx, fmt.Sprintf("[ -e %s ] || exit %d; cat %s", Quote(p), exitMissing, Quote(p)), nil)
		if ExitStatus(err) == exitMissing {
			return nil, fmt.Errorf("read %s on %s: %w", p, c.cfg.Name, os.ErrNotExist)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		return out, nil
	}
	s, err := c.sftpClient()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	return withContext(ctx, func() ([]byte, error) {
		f, err := s.Open(p)
		if err != nil {
			return nil, fmt.Errorf("read %s on %s: %w", p, c.cfg.Name, err)
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			return nil, fmt.Errorf("read %s on %s: %w", p, c.cfg.Name, err)
		}
		return b, nil
	})
}

// WriteFile replaces path atomically: it writes a temporary file in the
// same directory with its final mode and owner set before any content is
// written, then renames it over path.
func (c *Client) WriteFile(ctx context.Context, p string, data []byte, mode os.FileMode, owner, group string) error {
	if c.sudo {
		// A non-root user cannot write root's directories over SFTP; the
		// content goes through stdin, never the command line.
		dir, base := path.Dir(p), path.Base(p)
		cmd := fmt.Sprintf("umask 077; t=$(mktemp %s) && chown %s:%s \"$t\" && chmod %o \"$t\" && cat > \"$t\" && mv -f \"$t\" %s || { rm -f \"$t\"; exit 1; }",
			Quote(path.Join(dir, "."+base+".XXXXXX")), Quote(owner), Quote(group), mode.Perm(), Quote(p))
		if _, _, err := c.Run(ctx, cmd, bytes.NewReader(data)); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		return nil
	}
	uid, err := c.lookupID(ctx, "id -u -- %s", owner)
	if err != nil {
		return fmt.Errorf("write %s: owner %s: %w", p, owner, err)
	}
	gid, err := c.lookupID(ctx, "getent group %s | cut -d: -f3", group)
	if err != nil {
		return fmt.Errorf("write %s: group %s: %w", p, group, err)
	}
	s, err := c.sftpClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	_, err = withContext(ctx, func() ([]byte, error) {
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		tmp := path.Join(path.Dir(p), "."+path.Base(p)+".slotshift-"+hex.EncodeToString(rnd[:]))
		f, err := s.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		if err != nil {
			return nil, fmt.Errorf("write %s on %s: create temp: %w", p, c.cfg.Name, err)
		}
		fail := func(step string, err error) ([]byte, error) {
			_ = f.Close()
			_ = s.Remove(tmp)
			return nil, fmt.Errorf("write %s on %s: %s: %w", p, c.cfg.Name, step, err)
		}
		if err := f.Chmod(mode.Perm()); err != nil {
			return fail("chmod", err)
		}
		if err := f.Chown(uid, gid); err != nil {
			return fail("chown", err)
		}
		if _, err := f.Write(data); err != nil {
			return fail("write", err)
		}
		if err := f.Close(); err != nil {
			_ = s.Remove(tmp)
			return nil, fmt.Errorf("write %s on %s: close: %w", p, c.cfg.Name, err)
		}
		if err := s.PosixRename(tmp, p); err != nil {
			_ = s.Remove(tmp)
			return nil, fmt.Errorf("write %s on %s: rename: %w", p, c.cfg.Name, err)
		}
		return nil, nil
	})
	return err
}

func (c *Client) lookupID(ctx context.Context, format, name string) (int, error) {
	key := format + name
	c.mu.Lock()
	id, ok := c.ids[key]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	out, _, err := c.Run(ctx, fmt.Sprintf(format, Quote(name)), nil)
	if err != nil {
		return 0, err
	}
	id, err = strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return 0, fmt.Errorf("no such user or group %q on %s", name, c.cfg.Name)
	}
	c.mu.Lock()
	c.ids[key] = id
	c.mu.Unlock()
	return id, nil
}

// withContext runs f and returns early when ctx ends; SFTP calls take no
// context, so a stuck transfer is abandoned (Close tears it down).
func withContext(ctx context.Context, f func() ([]byte, error)) ([]byte, error) {
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		b, err := f()
		ch <- res{b, err}
	}()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close closes the SFTP session and the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	s := c.sftp
	c.sftp = nil
	c.mu.Unlock()
	if s != nil {
		_ = s.Close()
	}
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}
