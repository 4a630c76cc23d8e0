package inventory

import (
	"strings"
	"testing"
	"time"
)

func TestBackupMaxAge(t *testing.T) {
	inv, err := Parse("inventory.yml", []byte(valid+"backup:\n  max_age: 12h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Backup.MaxAge.Duration != 12*time.Hour || inv.Backup.Line != 21 {
		t.Errorf("backup = %+v, want max_age 12h on line 21", inv.Backup)
	}
	inv, err = Parse("inventory.json", []byte(`{"version": 1, "servers": [{"name": "s", "address": "10.0.0.1",
 "nodes": [{"port": 7000, "role": "master"}]}], "backup": {"max_age": "90m"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Backup.MaxAge.Duration != 90*time.Minute {
		t.Errorf("JSON max_age = %s, want 1h30m", inv.Backup.MaxAge)
	}
	inv, err = Parse("inventory.yml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Backup.MaxAge.Duration != DefaultBackupMaxAge {
		t.Errorf("default max_age = %s, want %s", inv.Backup.MaxAge, DefaultBackupMaxAge)
	}
}

func TestBackupMaxAgeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, tail, field, contains string
		line                        int
	}{
		{"unknown key", "backup:\n  max_agee: 1h\n", "backup.max_agee", `did you mean "max_age"?`, 22},
		{"not a duration", "backup:\n  max_age: 24\n", "backup.max_age", `want a duration like "10m"`, 22},
		{"bad unit", "backup:\n  max_age: 1d\n", "backup.max_age", `duration "1d"`, 22},
		{"negative", "backup: {max_age: -1h}\n", "backup.max_age", "must not be negative", 21},
		{"not a mapping", "backup: 24h\n", "backup", "want a mapping", 21},
		{"misspelt section", "backups: {max_age: 1h}\n", "backups", `did you mean "backup"?`, 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("inventory.yml", []byte(valid+tc.tail))
			if err == nil {
				t.Fatal("accepted")
			}
			ps := problems(t, err)
			if len(ps) != 1 {
				t.Fatalf("problems %+v, want 1", ps)
			}
			p := ps[0]
			if p.Field != tc.field || p.Line != tc.line || !strings.Contains(p.Message, tc.contains) {
				t.Errorf("problem %s:%d %s: %s; want field %s line %d containing %q", p.File, p.Line, p.Field, p.Message, tc.field, tc.line, tc.contains)
			}
		})
	}
}
