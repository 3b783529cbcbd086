package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/credshield/credshield/store"
	"github.com/credshield/credshield/store/migrations"
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

func TestUserCRUD(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()

	alice := mustCreate(t, s, "alice")
	bob := mustCreate(t, s, "bob")

	t.Run("created", func(t *testing.T) {
		want := store.User{
			ID:           alice.ID,
			Username:     "alice",
			PasswordHash: newUser("alice").PasswordHash,
			HashClass:    newUser("alice").HashClass,
			CreatedAt:    t0.Truncate(time.Millisecond),
			UpdatedAt:    t0.Truncate(time.Millisecond),
		}
		if alice != want {
			t.Errorf("CreateUser = %+v, want %+v", alice, want)
		}
		if len(alice.ID) != 32 || strings.Trim(alice.ID, "0123456789abcdef") != "" {
			t.Errorf("ID %q is not 32 hex digits", alice.ID)
		}
		if alice.ID == bob.ID {
			t.Error("two users share an ID")
		}
	})

	t.Run("lookups", func(t *testing.T) {
		tests := []struct {
			name    string
			lookup  func() (store.User, error)
			want    store.User
			wantErr error
		}{
			{"by name", func() (store.User, error) { return s.UserByName(ctx, "alice") }, alice, nil},
			{"by id", func() (store.User, error) { return s.UserByID(ctx, bob.ID) }, bob, nil},
			{"unknown name", func() (store.User, error) { return s.UserByName(ctx, "carol") }, store.User{}, store.ErrNotFound},
			{"name is case-sensitive", func() (store.User, error) { return s.UserByName(ctx, "Alice") }, store.User{}, store.ErrNotFound},
			{"unknown id", func() (store.User, error) { return s.UserByID(ctx, "00") }, store.User{}, store.ErrNotFound},
			{"id is not a name", func() (store.User, error) { return s.UserByID(ctx, "alice") }, store.User{}, store.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := tt.lookup()
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
			})
		}
	})

	t.Run("list ordered by username", func(t *testing.T) {
		mustCreate(t, s, "aaron")
		got, err := s.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range got {
			names = append(names, u.Username)
		}
		if want := []string{"aaron", "alice", "bob"}; !reflect.DeepEqual(names, want) {
			t.Errorf("ListUsers names = %q, want %q", names, want)
		}
	})

	t1 := t0.Add(time.Hour)
	t.Run("disable and enable", func(t *testing.T) {
		for _, disabled := range []bool{true, false, true} {
			if err := s.SetDisabled(ctx, "bob", disabled, t1); err != nil {
				t.Fatalf("SetDisabled(%v): %v", disabled, err)
			}
			got, err := s.UserByName(ctx, "bob")
			if err != nil {
				t.Fatal(err)
			}
			if got.Disabled != disabled {
				t.Errorf("Disabled = %v, want %v", got.Disabled, disabled)
			}
			if !got.UpdatedAt.Equal(t1.Truncate(time.Millisecond)) || !got.CreatedAt.Equal(bob.CreatedAt) {
				t.Errorf("times = %v / %v, want created %v updated %v", got.CreatedAt, got.UpdatedAt, bob.CreatedAt, t1)
			}
		}
		if err := s.SetDisabled(ctx, "carol", true, t1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetDisabled(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("set password", func(t *testing.T) {
		if err := s.SetPassword(ctx, "alice", "$2b$12$resethash", "bcrypt$12", t1); err != nil {
			t.Fatal(err)
		}
		got, err := s.UserByID(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.PasswordHash != "$2b$12$resethash" || got.HashClass != "bcrypt$12" || !got.UpdatedAt.Equal(t1.Truncate(time.Millisecond)) {
			t.Errorf("after SetPassword: %+v", got)
		}
		if err := s.SetPassword(ctx, "carol", "$2b$12$x", "bcrypt$12", t1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetPassword(unknown) = %v, want ErrNotFound", err)
		}
		if err := s.SetPassword(ctx, "alice", "", "bcrypt$12", t1); err == nil {
			t.Error("SetPassword with empty hash succeeded")
		}
	})
}

func TestCreateUserErrors(t *testing.T) {
	s, _ := openTest(t)
	mustCreate(t, s, "alice")
	secret := "$argon2id$v=19$m=19456,t=2,p=1$secretsalt$secretdigest"
	tests := []struct {
		name     string
		u        store.NewUser
		conflict bool
	}{
		{"username taken", store.NewUser{Username: "alice", PasswordHash: secret, HashClass: "c"}, true},
		{"empty username", store.NewUser{PasswordHash: secret, HashClass: "c"}, false},
		{"empty hash", store.NewUser{Username: "bob", HashClass: "c"}, false},
		{"empty class", store.NewUser{Username: "bob", PasswordHash: secret}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateUser(t.Context(), tt.u, t0)
			if err == nil {
				t.Fatal("CreateUser succeeded")
			}
			if errors.Is(err, store.ErrConflict) != tt.conflict {
				t.Errorf("err = %v, want ErrConflict: %v", err, tt.conflict)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q reveals the hash", err)
			}
		})
	}
	users, err := s.ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 {
		t.Errorf("%d users stored, want 1", len(users))
	}
}

func TestCreateUsers(t *testing.T) {
	tests := []struct {
		name      string
		batch     []string // usernames; "" makes an invalid entry
		wantIndex int      // -1: success
		conflict  bool
	}{
		{"all new", []string{"carol", "dave", "erin"}, -1, false},
		{"empty batch", nil, -1, false},
		{"existing user in the middle", []string{"carol", "alice", "dave"}, 1, true},
		{"duplicate within batch", []string{"carol", "dave", "carol"}, 2, true},
		{"existing user last", []string{"carol", "dave", "bob"}, 2, true},
		{"invalid entry", []string{"carol", "", "dave"}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			ctx := t.Context()
			mustCreate(t, s, "alice")
			mustCreate(t, s, "bob")

			var batch []store.NewUser
			for _, name := range tt.batch {
				batch = append(batch, newUser(name))
			}
			err := s.CreateUsers(ctx, batch, t0)

			users, lerr := s.ListUsers(ctx)
			if lerr != nil {
				t.Fatal(lerr)
			}
			if tt.wantIndex < 0 {
				if err != nil {
					t.Fatalf("CreateUsers: %v", err)
				}
				if want := 2 + len(tt.batch); len(users) != want {
					t.Errorf("%d users stored, want %d", len(users), want)
				}
				return
			}
			var be *BatchError
			if !errors.As(err, &be) {
				t.Fatalf("err = %v (%T), want *BatchError", err, err)
			}
			if be.Index != tt.wantIndex || be.Username != tt.batch[tt.wantIndex] {
				t.Errorf("BatchError{Index: %d, Username: %q}, want {%d, %q}", be.Index, be.Username, tt.wantIndex, tt.batch[tt.wantIndex])
			}
			if errors.Is(err, store.ErrConflict) != tt.conflict {
				t.Errorf("err = %v, want ErrConflict: %v", err, tt.conflict)
			}
			if strings.Contains(err.Error(), "$argon2id$") {
				t.Errorf("error %q reveals a hash", err)
			}
			if len(users) != 2 {
				t.Errorf("%d users stored after a failed batch, want 2 (all or nothing)", len(users))
			}
		})
	}
}

func TestReplaceHash(t *testing.T) {
	const newHash, newClass = "$argon2id$v=19$m=19456,t=2,p=1$bmV3$new", "argon2id$v=19$m=19456,t=2,p=1"
	t1 := t0.Add(time.Minute)
	tests := []struct {
		name     string
		id       func(u store.User) string
		oldHash  func(u store.User) string
		reset    bool // an administrator reset the password after the login read it
		wantErr  error
		wantHash func(u store.User) string
	}{
		{
			name:     "hash unchanged",
			id:       func(u store.User) string { return u.ID },
			oldHash:  func(u store.User) string { return u.PasswordHash },
			wantHash: func(store.User) string { return newHash },
		},
		{
			name:     "reset in between wins",
			id:       func(u store.User) string { return u.ID },
			oldHash:  func(u store.User) string { return u.PasswordHash },
			reset:    true,
			wantErr:  store.ErrStale,
			wantHash: func(store.User) string { return "$2b$12$reset" },
		},
		{
			name:     "wrong old hash",
			id:       func(u store.User) string { return u.ID },
			oldHash:  func(store.User) string { return "$2b$12$other" },
			wantErr:  store.ErrStale,
			wantHash: func(u store.User) string { return u.PasswordHash },
		},
		{
			name:     "unknown id",
			id:       func(store.User) string { return "ffffffffffffffffffffffffffffffff" },
			oldHash:  func(u store.User) string { return u.PasswordHash },
			wantErr:  store.ErrNotFound,
			wantHash: func(u store.User) string { return u.PasswordHash },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			ctx := t.Context()
			u := mustCreate(t, s, "alice")
			if tt.reset {
				if err := s.SetPassword(ctx, "alice", "$2b$12$reset", "bcrypt$12", t1); err != nil {
					t.Fatal(err)
				}
			}
			err := s.ReplaceHash(ctx, tt.id(u), tt.oldHash(u), newHash, newClass, t1)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReplaceHash = %v, want %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "$") {
				t.Errorf("error %q reveals a hash", err)
			}
			got, err := s.UserByID(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.PasswordHash != tt.wantHash(u) {
				t.Errorf("stored hash %q, want %q", got.PasswordHash, tt.wantHash(u))
			}
			if tt.wantErr == nil && (got.HashClass != newClass || !got.UpdatedAt.Equal(t1.Truncate(time.Millisecond))) {
				t.Errorf("after ReplaceHash: %+v", got)
			}
		})
	}
}

func TestHashClasses(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()

	got, err := s.HashClasses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("empty store: HashClasses = %q, want none", got)
	}

	classes := []string{"bcrypt$12", "argon2id$v=19$m=19456,t=2,p=1", "bcrypt$12", "pbkdf2-sha256$29000", "bcrypt$10"}
	for i, c := range classes {
		u := newUser(fmt.Sprintf("user%d", i))
		u.HashClass = c
		if _, err := s.CreateUser(ctx, u, t0); err != nil {
			t.Fatal(err)
		}
	}
	got, err = s.HashClasses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"argon2id$v=19$m=19456,t=2,p=1", "bcrypt$10", "bcrypt$12", "pbkdf2-sha256$29000"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("HashClasses = %q, want %q", got, want)
	}
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

func TestContextCancelled(t *testing.T) {
	s, _ := openTest(t)
	u := mustCreate(t, s, "alice")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"CreateUser", func() error { _, err := s.CreateUser(ctx, newUser("bob"), t0); return err }},
		{"CreateUsers", func() error { return s.CreateUsers(ctx, []store.NewUser{newUser("bob")}, t0) }},
		{"UserByName", func() error { _, err := s.UserByName(ctx, "alice"); return err }},
		{"UserByID", func() error { _, err := s.UserByID(ctx, u.ID); return err }},
		{"ListUsers", func() error { _, err := s.ListUsers(ctx); return err }},
		{"SetDisabled", func() error { return s.SetDisabled(ctx, "alice", true, t0) }},
		{"SetPassword", func() error { return s.SetPassword(ctx, "alice", "$x", "x", t0) }},
		{"ReplaceHash", func() error { return s.ReplaceHash(ctx, u.ID, u.PasswordHash, "$x", "x", t0) }},
		{"HashClasses", func() error { _, err := s.HashClasses(ctx); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		})
	}
	got, err := s.UserByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got != u {
		t.Errorf("a cancelled call changed the account: %+v", got)
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

// TestDeviceEpoch checks that a password reset and a disable raise the
// device epoch (revoking device credentials), and that enabling and a
// login's rehash do not.
func TestDeviceEpoch(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	now := time.Now()
	u, err := s.CreateUser(ctx, newUser("eve"), now)
	if err != nil {
		t.Fatal(err)
	}
	epoch := func() uint32 {
		t.Helper()
		got, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.DeviceEpoch
	}
	steps := []struct {
		name string
		do   func() error
		want uint32
	}{
		{"new account", func() error { return nil }, 0},
		{"reset", func() error { return s.SetPassword(ctx, "eve", "$h2", "c", now) }, 1},
		{"rehash", func() error { return s.ReplaceHash(ctx, u.ID, "$h2", "$h3", "c", now) }, 1},
		{"disable", func() error { return s.SetDisabled(ctx, "eve", true, now) }, 2},
		{"enable", func() error { return s.SetDisabled(ctx, "eve", false, now) }, 2},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := epoch(); got != st.want {
			t.Errorf("after %s: epoch %d, want %d", st.name, got, st.want)
		}
	}
}
