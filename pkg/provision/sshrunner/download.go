package sshrunner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Download streams the remote file at p into w and returns the bytes
// written; a missing file is an error that matches os.ErrNotExist. Unlike
// ReadFile it never holds the file in memory, and it is bounded by ctx
// only, not CommandTimeout: a multi-gigabyte RDB may take longer. As root
// it reads over SFTP (concurrent requests); through sudo it streams "cat",
// since the file is usually readable by its service user only.
func (c *Client) Download(ctx context.Context, p string, w io.Writer) (int64, error) {
	cw := &ctxWriter{ctx: ctx, w: w}
	if c.sudo {
		err := c.stream(ctx, fmt.Sprintf("[ -e %s ] || exit %d; exec cat %s", Quote(p), exitMissing, Quote(p)), cw)
		if ExitStatus(err) == exitMissing {
			return 0, fmt.Errorf("download %s from %s: %w", p, c.cfg.Name, os.ErrNotExist)
		}
		if err != nil {
			return 0, fmt.Errorf("download %s: %w", p, err)
		}
		return cw.n, nil
	}
	s, err := c.sftpClient()
	if err != nil {
		return 0, err
	}
	f, err := s.Open(p)
	if err != nil {
		return 0, fmt.Errorf("download %s from %s: %w", p, c.cfg.Name, err)
	}
	defer f.Close()
	// The SFTP client takes no context: ctxWriter stops the transfer at
	// the next chunk once ctx ends.
	if _, err := f.WriteTo(cw); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return cw.n, fmt.Errorf("download %s from %s: %w", p, c.cfg.Name, err)
	}
	return cw.n, nil
}

// stream runs cmd like Run, but writes its standard output to w as it
// arrives.
func (c *Client) stream(ctx context.Context, cmd string, w io.Writer) error {
	sess, err := c.conn.NewSession()
	if err != nil {
		return fmt.Errorf("ssh %s: new session: %w", c.cfg.Name, err)
	}
	defer sess.Close()
	var stderr bytes.Buffer
	sess.Stdout, sess.Stderr = w, &stderr
	full := "sh -c " + Quote(cmd)
	if c.sudo {
		full = "sudo -n " + full
	}
	if err := sess.Start(full); err != nil {
		return fmt.Errorf("ssh %s: start %q: %w", c.cfg.Name, cmd, err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = sess.Signal(ssh.SIGKILL)
		_ = sess.Close()
		// Give the session's copy into w a moment to stop; a server that
		// never confirms the close must not hold us (ctxWriter refuses
		// further writes either way).
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		return fmt.Errorf("ssh %s: %q: %w", c.cfg.Name, cmd, ctx.Err())
	}
	if err != nil {
		return &CommandError{Server: c.cfg.Name, Cmd: cmd, Err: err, Stderr: strings.TrimSpace(stderr.String())}
	}
	return nil
}

// ctxWriter counts what it writes and fails once its context has ended.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
	n   int64
}

func (cw *ctxWriter) Write(p []byte) (int, error) {
	if err := cw.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}
