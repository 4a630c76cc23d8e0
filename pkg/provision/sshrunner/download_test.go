package sshrunner_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/provision/sshdtest"
)

func TestDownload(t *testing.T) {
	s := sshdtest.Start(t)
	c, err := dial(t, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Several SFTP packets, so the concurrent read path is taken.
	want := make([]byte, 3<<20+17)
	_, _ = rand.Read(want)
	p := filepath.Join(t.TempDir(), "dump.rdb")
	if err := os.WriteFile(p, want, 0o600); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	n, err := c.Download(ctx, p, &got)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(want)) || !bytes.Equal(got.Bytes(), want) {
		t.Errorf("downloaded %d bytes (equal: %v), want %d", n, bytes.Equal(got.Bytes(), want), len(want))
	}
	if _, err := c.Download(ctx, p+".missing", io.Discard); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: want ErrNotExist, got %v", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	start := time.Now()
	if _, err := c.Download(done, p, io.Discard); !errors.Is(err, context.Canceled) || time.Since(start) > 3*time.Second {
		t.Errorf("cancelled download: %v after %s", err, time.Since(start))
	}
}
