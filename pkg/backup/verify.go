package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// HashFile returns the size and hex SHA-256 of the file at path.
func HashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// VerifyFiles checks that every good entry's file exists in dir (the
// manifest's directory) with the recorded size and SHA-256: a file that
// changed or vanished after the backup is an IDEntry finding.
func VerifyFiles(dir string, m *Manifest) []Finding {
	var out []Finding
	for _, e := range m.Entries {
		if e.Status != Good || e.File == "" {
			continue
		}
		bad := func(format string, a ...any) {
			out = append(out, Finding{ID: IDEntry, Node: e.Node, File: e.File,
				Message: fmt.Sprintf("%s (%s): ", e.Node, e.File) + fmt.Sprintf(format, a...)})
		}
		if filepath.IsAbs(e.File) || !filepath.IsLocal(e.File) {
			bad("file name must be relative to the manifest's directory")
			continue
		}
		size, sum, err := HashFile(filepath.Join(dir, e.File))
		switch {
		case err != nil:
			bad("%v", err)
		case size != e.Size:
			bad("size %d bytes, the manifest says %d", size, e.Size)
		case sum != e.SHA256:
			bad("SHA-256 %s, the manifest says %s", sum, e.SHA256)
		}
	}
	return out
}
