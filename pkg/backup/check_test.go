package backup

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
)

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func good(node string, saved time.Duration, slots ...cluster.Range) Entry {
	return Entry{Node: node, Server: "s", Role: "replica", Slots: slots, File: strings.ReplaceAll(node, ":", "-") + ".rdb",
		Size: 100, SHA256: sum, LastSave: now.Add(-saved), Status: Good}
}

func r(a, b int) cluster.Range { return cluster.Range{Start: a, End: b} }

func TestCheckManifest(t *testing.T) {
	thirds := []Entry{
		good("10.0.0.1:7001", time.Hour, r(0, 5460)),
		good("10.0.0.2:7001", time.Hour, r(5461, 10922)),
		good("10.0.0.3:7001", time.Hour, r(10923, 16383)),
	}
	with := func(i int, f func(*Entry)) []Entry {
		out := append([]Entry(nil), thirds...)
		f(&out[i])
		return out
	}
	type want struct {
		id, node string
		text     []string
		missing  []cluster.Range
	}
	cases := []struct {
		name    string
		entries []Entry
		maxAge  time.Duration
		all     cluster.SlotSet
		want    []want
	}{
		{name: "complete and recent", entries: thirds, maxAge: 24 * time.Hour, all: AllSlots()},
		{name: "age limit off", entries: with(0, func(e *Entry) { e.LastSave = now.Add(-1000 * time.Hour) }), all: AllSlots()},
		{name: "stale entry", maxAge: 24 * time.Hour, all: AllSlots(),
			entries: with(1, func(e *Entry) { e.LastSave = now.Add(-30 * time.Hour) }),
			want:    []want{{id: IDAge, node: "10.0.0.2:7001", text: []string{"saved 30h0m0s ago", "backup.max_age 24h0m0s", "2026-12-02T06:00:00Z"}}}},
		{name: "missing shard", maxAge: 24 * time.Hour, all: AllSlots(), entries: thirds[:2],
			want: []want{{id: IDCoverage, text: []string{"5461 of 16384 slots", "10923-16383"}, missing: []cluster.Range{r(10923, 16383)}}}},
		{name: "hole and single slot", all: AllSlots(),
			entries: with(0, func(e *Entry) { e.Slots = []cluster.Range{r(0, 99), r(101, 4999)} }),
			want:    []want{{id: IDCoverage, text: []string{"462 of 16384", "100, 5000-5460"}, missing: []cluster.Range{r(100, 100), r(5000, 5460)}}}},
		{name: "bad entry does not cover", all: AllSlots(),
			entries: with(2, func(e *Entry) { e.Status, e.Problem = Bad, "redis-check-rdb: RDB ERROR DETECTED" }),
			want: []want{
				{id: IDEntry, node: "10.0.0.3:7001", text: []string{"10.0.0.3-7001.rdb", "marked bad: redis-check-rdb"}},
				{id: IDCoverage, missing: []cluster.Range{r(10923, 16383)}},
			}},
		{name: "good but no hash", all: cluster.NewSlotSet(r(0, 5460)),
			entries: with(0, func(e *Entry) { e.SHA256 = "" }),
			want: []want{
				{id: IDEntry, node: "10.0.0.1:7001", text: []string{"no SHA-256"}},
				{id: IDCoverage, text: []string{"5461 of 5461"}, missing: []cluster.Range{r(0, 5460)}},
			}},
		{name: "unknown status", all: cluster.NewSlotSet(r(5461, 10922)),
			entries: with(0, func(e *Entry) { e.Status = "maybe" }),
			want:    []want{{id: IDEntry, node: "10.0.0.1:7001", text: []string{`unknown status "maybe"`}}}},
		{name: "no save time", all: cluster.NewSlotSet(r(5461, 10922)),
			entries: with(0, func(e *Entry) { e.LastSave = time.Time{} }),
			want:    []want{{id: IDEntry, text: []string{"no save time"}}}},
		{name: "duplicate replicas cover one shard twice", all: AllSlots(),
			entries: append(thirds, good("10.0.0.4:7001", time.Minute, r(0, 5460)))},
		{name: "empty manifest", all: AllSlots(),
			want: []want{{id: IDCoverage, text: []string{"16384 of 16384", "0-16383"}, missing: []cluster.Range{r(0, 16383)}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := &Manifest{FormatVersion: FormatVersion, Cluster: "c", CreatedAt: now, Entries: tc.entries}
			got := CheckManifest(m, now, tc.maxAge, tc.all)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d findings, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.ID != w.id || (w.node != "" && g.Node != w.node) {
					t.Errorf("finding %d = %s %s, want %s %s", i, g.ID, g.Node, w.id, w.node)
				}
				for _, s := range w.text {
					if !strings.Contains(g.Message, s) {
						t.Errorf("finding %d %q lacks %q", i, g.Message, s)
					}
				}
				if w.missing != nil && !reflect.DeepEqual(g.Missing, w.missing) {
					t.Errorf("finding %d missing %v, want %v", i, g.Missing, w.missing)
				}
			}
		})
	}
}

func TestCheckManifestNil(t *testing.T) {
	got := CheckManifest(nil, now, time.Hour, AllSlots())
	if len(got) != 1 || got[0].ID != IDCoverage {
		t.Fatalf("nil manifest: %+v", got)
	}
}

func TestParse(t *testing.T) {
	m, err := Parse([]byte(`{"format_version":"1.3","cluster":"c","created_at":"2026-12-03T12:00:00Z","entries":[{"node":"a:1","slots":[{"start":0,"end":9}],"status":"good","future":1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Cluster != "c" || len(m.Entries) != 1 || m.Entries[0].Slots[0] != r(0, 9) {
		t.Fatalf("parsed %+v", m)
	}
	for _, bad := range []string{`{"format_version":"2.0"}`, `{}`, `[`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s) accepted", bad)
		}
	}
}

func TestFileName(t *testing.T) {
	for in, want := range map[string]string{
		"server1":    "server1-7001.rdb",
		"../../etc":  "_.._etc-7001.rdb",
		"..":         "server-7001.rdb",
		"":           "server-7001.rdb",
		"a b/c.d":    "a_b_c.d-7001.rdb",
		"cache-eu.1": "cache-eu.1-7001.rdb",
	} {
		if got := FileName(in, 7001); got != want {
			t.Errorf("FileName(%q) = %q, want %q", in, got, want)
		}
		if got := FileName(in, 7001); !filepath.IsLocal(got) || strings.ContainsRune(got, '/') {
			t.Errorf("FileName(%q) = %q leaves the directory", in, got)
		}
	}
}

func TestDirName(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	if got := DirName("prod/cache", at); got != "prod_cache-20261203T083000Z" {
		t.Errorf("DirName = %q", got)
	}
	if got := DirName("", at); got != "cluster-20261203T083000Z" {
		t.Errorf("DirName of no name = %q", got)
	}
}

func TestVerifyFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.rdb", "test")
	write("b.rdb", "tess")
	m := &Manifest{Entries: []Entry{
		{Node: "a:1", File: "a.rdb", Size: 4, SHA256: sum, Status: Good},
		{Node: "b:1", File: "b.rdb", Size: 4, SHA256: sum, Status: Good},
		{Node: "c:1", File: "c.rdb", Size: 4, SHA256: sum, Status: Good},
		{Node: "d:1", File: "../a.rdb", Size: 4, SHA256: sum, Status: Good},
		{Node: "e:1", File: "a.rdb", Size: 5, SHA256: sum, Status: Good},
		{Node: "f:1", File: "zzz.rdb", Status: Bad},
	}}
	got := VerifyFiles(dir, m)
	want := map[string]string{"b:1": "SHA-256", "c:1": "no such file", "d:1": "relative", "e:1": "size 4 bytes, the manifest says 5"}
	if len(got) != len(want) {
		t.Fatalf("findings %+v", got)
	}
	for _, f := range got {
		if w, ok := want[f.Node]; !ok || !strings.Contains(f.Message, w) || f.ID != IDEntry {
			t.Errorf("finding %+v, want %q", f, w)
		}
	}
}
