package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/storetest"
)

// TestDBFlag runs the user commands against each backend --db names and
// checks that a bad --db is a usage error that never echoes a password.
func TestDBFlag(t *testing.T) {
	backends := []struct {
		name string
		db   func(t *testing.T) string
	}{
		{"sqlite path", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "odd?name#.db") }},
		{"postgres", func(t *testing.T) string { return storetest.PostgresDSN(t) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := b.db(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			args := func(a ...string) []string { return append(append(a, "--db", db, "--data-dir", dataDir), cheapHash...) }
			if code, _, stderr := credshield(t, "correct horse battery\n", nil, args("user", "add", "alice")...); code != 0 {
				t.Fatalf("user add: %d %s", code, stderr)
			}
			if code, _, stderr := credshield(t, "another password\n", nil, args("user", "add", "alice")...); code != 1 || !strings.Contains(stderr, "already exists") {
				t.Errorf("duplicate add: %d %s", code, stderr)
			}
			// The environment stands in for the flag.
			envVars := map[string]string{"CREDSHIELD_DB": db}
			if code, out, stderr := credshield(t, "", envVars, "user", "list", "--data-dir", dataDir); code != 0 || !strings.Contains(out, "alice") {
				t.Errorf("user list via CREDSHIELD_DB: %d %q %s", code, out, stderr)
			}
			if code, out, stderr := credshield(t, "", nil, args("user", "disable", "alice")...); code != 0 || !strings.Contains(out, "disabled") {
				t.Errorf("disable: %d %q %s", code, out, stderr)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("data dir created although --db named the store: %v", err)
			}

			e := &env{dataDir: dataDir}
			st, err := e.openDB(t.Context(), db)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			u, err := st.UserByName(t.Context(), "alice")
			if err != nil || !u.Disabled {
				t.Errorf("stored account %+v, %v", u, err)
			}
			if _, err := st.UserByName(t.Context(), "bob"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown user: %v", err)
			}
		})
	}

	for _, bad := range []string{"mysql://u:s3cret@h/db", "u:s3cret@h/db", "sqlite://", "postgres://u:s3cret@h/%zz"} {
		code, _, stderr := credshield(t, "", nil, "user", "list", "--db", bad, "--data-dir", t.TempDir())
		if code != 2 || !strings.Contains(stderr, "--db") || strings.Contains(stderr, "s3cret") {
			t.Errorf("--db %q: exit %d, %q; want 2 naming --db without the password", bad, code, stderr)
		}
	}
	// An unreachable PostgreSQL is an ordinary failure that names neither
	// the password nor panics.
	code, _, stderr := credshield(t, "", nil, "user", "list", "--db", "postgres://u:s3cret@127.0.0.1:1/db?connect_timeout=2")
	if code != 1 || strings.Contains(stderr, "s3cret") || !strings.Contains(stderr, "open database") {
		t.Errorf("unreachable PostgreSQL: exit %d, %q", code, stderr)
	}
}
