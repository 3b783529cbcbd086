package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/credshield/credshield/internal/store/migrations"
	"github.com/credshield/credshield/internal/store/storetest"
)

var t0 = storetest.T0

// freshPath is where a new database file for t goes.
func freshPath(t testing.TB) string { return filepath.Join(t.TempDir(), "credshield.db") }

// openTest opens a Store on a new file for t.
func openTest(t *testing.T) (*Store, string) { return storetest.OpenFresh(t, freshPath, Open) }

// TestStore runs the backend-independent store tests (package storetest),
// also with several stores on one file, as a server and a CLI process
// would be: across their pools, the contention is what busy_timeout must
// absorb.
func TestStore(t *testing.T) {
	storetest.RunBackend(t, freshPath, Open)
}

func TestOpenMigratesAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credshield.db")
	ctx := t.Context()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	want := storetest.MustCreate(t, s, "alice")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for i := range 2 {
		s, err = Open(ctx, path)
		if err != nil {
			t.Fatalf("re-Open %d: %v", i, err)
		}
		got, err := s.UserByName(ctx, "alice")
		if err != nil {
			t.Fatalf("re-Open %d: UserByName: %v", i, err)
		}
		if got != want {
			t.Errorf("re-Open %d: got %+v, want %+v", i, got, want)
		}
		var version int64
		if err := s.ro.QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&version); err != nil {
			t.Fatal(err)
		}
		files, _ := fs.Glob(migrations.FS, "*.sql")
		if version != int64(len(files)) {
			t.Errorf("re-Open %d: schema version %d, want %d", i, version, len(files))
		}
		var applied int
		if err := s.ro.QueryRowContext(ctx, `SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
			t.Fatal(err)
		}
		if applied != len(files) {
			t.Errorf("re-Open %d: %d migrations recorded, want %d (each applied once)", i, applied, len(files))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrationsDownUp runs every Down section and then Up again, so a
// broken Down shows here rather than during an operator's rollback.
func TestMigrationsDownUp(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	p, err := goose.NewProvider(goose.DialectSQLite3, s.rw, migrations.FS, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("DownTo(0): %v", err)
	}
	var n int
	if err := s.rw.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE name = 'users'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("users table still present after DownTo(0)")
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("Up after down: %v", err)
	}
	storetest.MustCreate(t, s, "alice")
}

func TestOpenErrors(t *testing.T) {
	storetest.OpenFails(t, freshPath, Open, map[string]string{
		"missing parent directory": filepath.Join(t.TempDir(), "missing", "credshield.db"),
		"path is a directory":      t.TempDir(),
	})
}

func TestFileMode(t *testing.T) {
	s, path := openTest(t)
	storetest.MustCreate(t, s, "alice") // a write, so the WAL exists
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", filepath.Base(name), mode)
		}
	}
}

// TestPragmas checks the settings on several distinct pooled connections of
// each pool (held at once, so the pool must open new ones), and that WAL
// persists for a connection opened without any parameters.
func TestPragmas(t *testing.T) {
	s, path := openTest(t)
	ctx := t.Context()

	pools := []struct {
		name  string
		db    *sql.DB
		conns int
		want  map[string]string
	}{
		{"writer", s.rw, 1, map[string]string{
			"journal_mode": "wal", "busy_timeout": "5000", "foreign_keys": "1", "synchronous": "1", "query_only": "0",
		}},
		{"readers", s.ro, readConns, map[string]string{
			"journal_mode": "wal", "busy_timeout": "5000", "foreign_keys": "1", "synchronous": "1", "query_only": "1",
		}},
	}
	for _, p := range pools {
		t.Run(p.name, func(t *testing.T) {
			var held []*sql.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for i := range p.conns {
				c, err := p.db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, c)
				for pragma, want := range p.want {
					var got string
					if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
						t.Fatalf("conn %d: PRAGMA %s: %v", i, pragma, err)
					}
					if got != want {
						t.Errorf("conn %d: PRAGMA %s = %q, want %q", i, pragma, got, want)
					}
				}
			}
		})
	}

	t.Run("fresh connection", func(t *testing.T) {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var mode string
		if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" {
			t.Errorf("journal_mode = %q, want wal", mode)
		}
	})

	t.Run("readers cannot write", func(t *testing.T) {
		_, err := s.ro.ExecContext(ctx, `DELETE FROM users`)
		if err == nil {
			t.Error("DELETE through the read pool succeeded")
		}
	})
}

// TestContextDeadlineWhileBlocked checks that a writer stuck behind another
// writer gives up at its deadline rather than hanging for busy_timeout.
func TestContextDeadlineWhileBlocked(t *testing.T) {
	tests := []struct {
		name  string
		block func(t *testing.T, s *Store, path string) (release func())
	}{
		{
			// Another goroutine of this process holds the only writer
			// connection: the wait is in database/sql's pool.
			name: "same process",
			block: func(t *testing.T, s *Store, _ string) func() {
				c, err := s.rw.Conn(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				return func() { c.Close() }
			},
		},
		{
			// Another process (here: another pool) holds the write lock:
			// the wait is in SQLite's busy handler.
			name: "other process",
			block: func(t *testing.T, _ *Store, path string) func() {
				other, err := Open(t.Context(), path)
				if err != nil {
					t.Fatal(err)
				}
				tx, err := other.rw.BeginTx(t.Context(), nil) // BEGIN IMMEDIATE
				if err != nil {
					t.Fatal(err)
				}
				return func() { tx.Rollback(); other.Close() }
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := openTest(t)
			release := tt.block(t, s, path)
			defer release()

			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := s.CreateUser(ctx, storetest.NewUser("bob"), t0)
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("CreateUser succeeded while the write lock was held")
			}
			if elapsed > busyTimeout/2 {
				t.Errorf("CreateUser returned after %v, want about the 100ms deadline", elapsed)
			}
			// Reads are not blocked by a writer in WAL mode.
			if _, err := s.ListUsers(t.Context()); err != nil {
				t.Errorf("ListUsers while a write is pending: %v", err)
			}
		})
	}
}

// TestOddPaths checks that characters with a meaning in URIs reach the file
// system literally, so a data directory name can never inject a DSN
// parameter or open a different file.
func TestOddPaths(t *testing.T) {
	names := []string{"a?mode=ro.db", "b#frag.db", "c%20d.db", "e f.db", "g&_query_only=1.db"}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			s, err := Open(t.Context(), path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			storetest.MustCreate(t, s, "alice")
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() == 0 {
				if _, err := os.Stat(path + "-wal"); err != nil {
					t.Errorf("no database or WAL at %q: %v", path, err)
				}
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if !strings.HasPrefix(e.Name(), name) {
					t.Errorf("unexpected file %q beside %q", e.Name(), name)
				}
			}
		})
	}
}
