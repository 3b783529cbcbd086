package migrations

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestFiles checks what goose and the second backend rely on: numbered
// names in sequence, both directions present, and no syntax only one of
// SQLite and PostgreSQL understands.
func TestFiles(t *testing.T) {
	names, err := fs.Glob(FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no migrations embedded")
	}
	nameRE := regexp.MustCompile(`^(\d{5})_[a-z0-9_]+\.sql$`)
	forbidden := []struct {
		name string
		re   *regexp.Regexp
	}{
		{"AUTOINCREMENT (SQLite only)", regexp.MustCompile(`(?i)\bautoincrement\b`)},
		{"SERIAL (PostgreSQL only)", regexp.MustCompile(`(?i)\b(big|small)?serial\b`)},
		{"DATETIME (no PostgreSQL type)", regexp.MustCompile(`(?i)\bdatetime\b`)},
		{"TIMESTAMP (timestamps are BIGINT unix ms)", regexp.MustCompile(`(?i)\btimestamp(tz)?\b`)},
		{"WITHOUT ROWID (SQLite only)", regexp.MustCompile(`(?i)\bwithout\s+rowid\b`)},
		{"STRICT table (SQLite only)", regexp.MustCompile(`(?i)\)\s*strict\b`)},
		{"IF NOT EXISTS (hides a broken history)", regexp.MustCompile(`(?i)\bif\s+not\s+exists\b`)},
		{"double-quoted literal", regexp.MustCompile(`"`)},
	}
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			m := nameRE.FindStringSubmatch(name)
			if m == nil {
				t.Fatalf("name %q does not match NNNNN_name.sql", name)
			}
			if want := fmt.Sprintf("%05d", i+1); m[1] != want {
				t.Errorf("number %s, want %s (no gaps, no duplicates)", m[1], want)
			}
			b, err := fs.ReadFile(FS, name)
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			up := strings.Index(text, "-- +goose Up")
			down := strings.Index(text, "-- +goose Down")
			if up < 0 || down < 0 || down < up {
				t.Errorf("want a -- +goose Up section followed by a -- +goose Down section")
			}
			for _, f := range forbidden {
				if loc := f.re.FindStringIndex(text); loc != nil {
					t.Errorf("uses %s at byte %d", f.name, loc[0])
				}
			}
		})
	}
}
