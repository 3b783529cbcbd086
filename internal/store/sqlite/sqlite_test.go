package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/migrations"
	"github.com/credshield/credshield/internal/store/storetest"
)

// t0 has sub-millisecond digits so the tests see the truncation.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credshield.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, path
}

func newUser(name string) store.NewUser {
	return store.NewUser{
		Username:     name,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$" + name,
		HashClass:    "argon2id$v=19$m=19456,t=2,p=1",
	}
}

func mustCreate(t *testing.T, s *Store, name string) store.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), newUser(name), t0)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}

// TestSuite runs the backend-independent store tests (package storetest).
func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTest(t)
		return s
	})
}

func TestOpenMigratesAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credshield.db")
	ctx := t.Context()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	want := mustCreate(t, s, "alice")
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
	mustCreate(t, s, "alice")
}

func TestOpenErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		path string
	}{
		{"missing parent directory", t.Context(), filepath.Join(t.TempDir(), "missing", "credshield.db")},
		{"path is a directory", t.Context(), t.TempDir()},
		{"cancelled context", cancelled, filepath.Join(t.TempDir(), "credshield.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.ctx, tt.path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
		})
	}
}

func TestFileMode(t *testing.T) {
	s, path := openTest(t)
	mustCreate(t, s, "alice") // a write, so the WAL exists
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

// TestConcurrentWriters runs 50 writers split across two Stores on one file,
// as a server and a CLI process would be, with readers alongside: the
// cross-pool contention is what busy_timeout must absorb.
func TestConcurrentWriters(t *testing.T) {
	s1, path := openTest(t)
	s2, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ctx := t.Context()

	const writers = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for i := range writers {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		wg.Go(func() {
			if _, err := s.CreateUser(ctx, newUser(fmt.Sprintf("user%02d", i)), t0); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			if _, err := s.ListUsers(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	users, err := s1.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != writers {
		t.Errorf("%d users stored, want %d", len(users), writers)
	}
}

// TestReplaceHashRace has many logins race to rehash the same account: the
// compare-and-swap must let exactly one win.
func TestReplaceHashRace(t *testing.T) {
	s1, path := openTest(t)
	s2, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ctx := t.Context()
	u := mustCreate(t, s1, "alice")

	const racers = 20
	var wg sync.WaitGroup
	results := make(chan error, racers)
	for i := range racers {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		wg.Go(func() {
			results <- s.ReplaceHash(ctx, u.ID, u.PasswordHash, fmt.Sprintf("$argon2id$new%d", i), "argon2id", t0)
		})
	}
	wg.Wait()
	close(results)
	var won, stale int
	for err := range results {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrStale):
			stale++
		default:
			t.Error(err)
		}
	}
	if won != 1 || stale != racers-1 {
		t.Errorf("%d won, %d stale; want 1 and %d", won, stale, racers-1)
	}
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
			_, err := s.CreateUser(ctx, newUser("bob"), t0)
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
			mustCreate(t, s, "alice")
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
