package backup

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// FormatVersion is the manifest format: minor bumps add fields, readers
// ignore unknown fields, a major bump breaks.
const FormatVersion = "1.0"

// ManifestName is the manifest's file name inside a backup directory.
const ManifestName = "manifest.json"

// Status says whether an entry's file can be restored from.
type Status string

// Entry statuses.
const (
	// Good: copied, hash recorded and accepted by redis-check-rdb.
	Good Status = "good"
	// Bad: the save, the copy or the check failed; Problem says which.
	Bad Status = "bad"
)

// Manifest describes one backup run: every file it copied, good or bad.
// File names are relative to the directory that holds the manifest.
type Manifest struct {
	FormatVersion string    `json:"format_version"`
	Cluster       string    `json:"cluster"`
	CreatedAt     time.Time `json:"created_at"`
	Entries       []Entry   `json:"entries"`
}

// Entry is one node's RDB file.
type Entry struct {
	Node   string `json:"node"`   // host:port the node was reached at
	Server string `json:"server"` // inventory server name
	ID     string `json:"id,omitempty"`
	Role   string `json:"role"` // master | replica, as the cluster saw it
	// Master is the address of a replica's master; "" for a master.
	Master string `json:"master,omitempty"`
	// Slots are the slots the file holds: a master's own, or for a replica
	// its master's.
	Slots        []cluster.Range `json:"slots"`
	File         string          `json:"file,omitempty"` // relative to the manifest's directory
	Size         int64           `json:"size"`           // bytes
	SHA256       string          `json:"sha256,omitempty"`
	LastSave     time.Time       `json:"last_save,omitzero"` // the node's LASTSAVE after the save
	RedisVersion string          `json:"redis_version,omitempty"`
	Status       Status          `json:"status"`
	Problem      string          `json:"problem,omitempty"` // why the entry is bad
}

// Parse reads a manifest and checks its format version.
func Parse(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("backup manifest: %w", err)
	}
	major, _, _ := strings.Cut(m.FormatVersion, ".")
	want, _, _ := strings.Cut(FormatVersion, ".")
	if major != want {
		return nil, fmt.Errorf("backup manifest: format_version %q: this build reads %s.x", m.FormatVersion, want)
	}
	return &m, nil
}

// Load reads the manifest at path.
func Load(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read backup manifest: %w", err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// FileName is the RDB file name for a node: server name and port, with
// anything but letters, digits, '.', '_' and '-' replaced, so that no
// inventory name can reach outside the backup directory or hide a file.
func FileName(server string, port int) string {
	return fmt.Sprintf("%s-%d.rdb", clean(server, "server"), port)
}

// DirName is the directory one backup run writes into: the cluster name
// and the UTC start time, e.g. "prod-cache-20261203T093000Z".
func DirName(cluster string, t time.Time) string {
	return clean(cluster, "cluster") + "-" + t.UTC().Format("20060102T150405Z")
}

// clean makes s safe as one path element.
func clean(s, fallback string) string {
	out := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			return r
		}
		return '_'
	}, s)
	out = strings.TrimLeft(out, ".") // no hidden files, no ".."
	if out == "" {
		return fallback
	}
	return out
}

// SlotSet returns the entry's slots as a set.
func (e *Entry) SlotSet() cluster.SlotSet { return cluster.NewSlotSet(e.Slots...) }
