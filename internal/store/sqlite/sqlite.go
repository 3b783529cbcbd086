package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/pressly/goose/v3"
	drv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/migrations"
)

const (
	// busyTimeout is how long a statement waits for another process's write
	// lock before failing with SQLITE_BUSY.
	busyTimeout = 5 * time.Second
	// readConns bounds the read pool. Each connection carries its own page
	// cache; database/sql would otherwise open connections without limit.
	readConns = 8
)

// Store is a SQLite-backed account store. Create it with Open and release it
// with Close; the zero value is not usable.
//
// A Store is safe for concurrent use by many goroutines: it holds
// database/sql pools, one single-connection pool for writes and one pool of
// read-only connections (see the package documentation).
type Store struct {
	rw *sql.DB // exactly one connection: writes, migrations
	ro *sql.DB // query_only connections: reads
}

// Open opens the database file at path, creating it with mode 0600 when it
// does not exist (its parent directory must), switches it to WAL, and applies
// any pending migrations. An existing file keeps its mode. ctx bounds the
// opening and the migrations only.
//
// Migrations are not locked across processes: start one process on a new
// or upgraded file first, rather than several at once.
func Open(ctx context.Context, path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// SQLite would create the file with mode 0644 less umask; create it
	// first so account hashes are never readable by other users. SQLite
	// gives the -wal and -shm files the database file's mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	rw, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	rw.SetMaxOpenConns(1)
	rw.SetMaxIdleConns(1)
	rw.SetConnMaxIdleTime(0)
	rw.SetConnMaxLifetime(0)
	if err := rw.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open: %w", err), rw.Close())
	}
	if err := migrate(ctx, rw); err != nil {
		return nil, errors.Join(err, rw.Close())
	}

	ro, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open: %w", err), rw.Close())
	}
	ro.SetMaxOpenConns(readConns)
	ro.SetMaxIdleConns(readConns)
	ro.SetConnMaxIdleTime(0)
	ro.SetConnMaxLifetime(0)
	if err := ro.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open: %w", err), ro.Close(), rw.Close())
	}
	return &Store{rw: rw, ro: ro}, nil
}

// dsn builds the connection string for the file at the absolute path abs.
// The "file:" URI form escapes any '?' or '#' in the path, and the driver's
// underscore parameters apply to every connection the pool opens.
func dsn(abs string, readOnly bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Set("_query_only", "1")
	} else {
		// journal_mode=WAL persists in the file; the writer sets it before
		// any reader connects.
		q.Set("_journal_mode", "WAL")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// migrate applies pending migrations through a goose Provider, which keeps
// no package-level state.
func migrate(ctx context.Context, db *sql.DB) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.FS,
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	// p.Close would close db, which the Store still needs.
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// Close closes both pools. Calls in flight may fail; call it once.
func (s *Store) Close() error {
	return errors.Join(s.ro.Close(), s.rw.Close())
}

// Ping checks that both pools can reach the database file, for readiness
// probes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.ro.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.rw.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

const userColumns = `id, username, password_hash, hash_class, disabled, created_at, updated_at, device_epoch, scopes`

const insertUser = `INSERT INTO users (` + userColumns + `) VALUES (?, ?, ?, ?, FALSE, ?, ?, 0, '')`

// CreateUser stores a new, enabled account under a fresh random ID and
// returns it. It returns an error wrapping store.ErrConflict when the
// username is taken.
func (s *Store) CreateUser(ctx context.Context, u store.NewUser, now time.Time) (store.User, error) {
	if err := validate(u); err != nil {
		return store.User{}, fmt.Errorf("sqlite: create user: %w", err)
	}
	id, err := newID()
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: create user: %w", err)
	}
	ms := now.UnixMilli()
	if _, err := s.rw.ExecContext(ctx, insertUser, id, u.Username, u.PasswordHash, u.HashClass, ms, ms); err != nil {
		return store.User{}, fmt.Errorf("sqlite: create user: %w", mapErr(err))
	}
	return store.User{
		ID:           id,
		Username:     u.Username,
		PasswordHash: u.PasswordHash,
		HashClass:    u.HashClass,
		CreatedAt:    fromMillis(ms),
		UpdatedAt:    fromMillis(ms),
	}, nil
}

// CreateUsers stores every account in us, each under a fresh random ID, in
// one transaction: either all are stored or none is. A failing entry is
// reported as a *store.BatchError. It is meant for bulk import.
func (s *Store) CreateUsers(ctx context.Context, us []store.NewUser, now time.Time) (err error) {
	if len(us) == 0 {
		return nil
	}
	for i, u := range us {
		if err := validate(u); err != nil {
			return &store.BatchError{Index: i, Username: u.Username, Err: err}
		}
	}
	tx, err := s.rw.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: create users: %w", err)
	}
	defer func() {
		if err != nil {
			err = withRollback(err, tx)
		}
	}()
	stmt, err := tx.PrepareContext(ctx, insertUser)
	if err != nil {
		return fmt.Errorf("sqlite: create users: %w", err)
	}
	defer stmt.Close()
	ms := now.UnixMilli()
	for i, u := range us {
		id, err := newID()
		if err != nil {
			return fmt.Errorf("sqlite: create users: %w", err)
		}
		if _, err := stmt.ExecContext(ctx, id, u.Username, u.PasswordHash, u.HashClass, ms, ms); err != nil {
			return &store.BatchError{Index: i, Username: u.Username, Err: mapErr(err)}
		}
		if u.Unscreened {
			if err := screeningDialect.MarkUnscreened(ctx, tx, id, now); err != nil {
				return &store.BatchError{Index: i, Username: u.Username, Err: err}
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: create users: commit: %w", err)
	}
	return nil
}

// UserByName returns the account with the given (normalised) username, or
// an error wrapping store.ErrNotFound.
func (s *Store) UserByName(ctx context.Context, username string) (store.User, error) {
	row := s.ro.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username = ?`, username)
	u, err := scanUser(row)
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: user by name: %w", mapErr(err))
	}
	return u, nil
}

// UserByID returns the account with the given ID (a token's sub claim), or
// an error wrapping store.ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	row := s.ro.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id)
	u, err := scanUser(row)
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: user by id: %w", mapErr(err))
	}
	return u, nil
}

// ListUsers returns every account ordered by username (empty, not nil, when
// there are none). It loads all rows into memory, which suits the
// administration CLI, not a request path.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.ro.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	users := []store.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return users, nil
}

// SetDisabled disables or re-enables the account with the given username,
// or returns an error wrapping store.ErrNotFound. Both raise the account
// epoch, so no device credential or access token issued before survives
// the change (see store.User.DeviceEpoch).
func (s *Store) SetDisabled(ctx context.Context, username string, disabled bool, now time.Time) error {
	res, err := s.rw.ExecContext(ctx,
		`UPDATE users SET disabled = ?, updated_at = ?, device_epoch = device_epoch + 1 WHERE username = ?`,
		disabled, now.UnixMilli(), username)
	if err != nil {
		return fmt.Errorf("sqlite: set disabled: %w", err)
	}
	if err := requireOne(res); err != nil {
		return fmt.Errorf("sqlite: set disabled: %w", err)
	}
	return nil
}

// SetScopes replaces the scopes granted to the account with the given
// username (space-delimited, already validated) and raises its account
// epoch, so access tokens issued under the old grants stop working; or
// returns an error wrapping store.ErrNotFound.
func (s *Store) SetScopes(ctx context.Context, username, scopes string, now time.Time) error {
	res, err := s.rw.ExecContext(ctx,
		`UPDATE users SET scopes = ?, updated_at = ?, device_epoch = device_epoch + 1 WHERE username = ?`,
		scopes, now.UnixMilli(), username)
	if err != nil {
		return fmt.Errorf("sqlite: set scopes: %w", err)
	}
	if err := requireOne(res); err != nil {
		return fmt.Errorf("sqlite: set scopes: %w", err)
	}
	return nil
}

// SetPassword replaces the hash of the account with the given username
// unconditionally (an administrator's reset) and raises its device epoch,
// revoking its device credentials, or returns an error wrapping
// store.ErrNotFound. A concurrent ReplaceHash of the old hash then fails with
// store.ErrStale, so the reset wins.
func (s *Store) SetPassword(ctx context.Context, username, hash, class string, now time.Time) error {
	if hash == "" || class == "" {
		return errors.New("sqlite: set password: empty hash or hash class")
	}
	res, err := s.rw.ExecContext(ctx,
		`UPDATE users SET password_hash = ?, hash_class = ?, updated_at = ?, device_epoch = device_epoch + 1 WHERE username = ?`,
		hash, class, now.UnixMilli(), username)
	if err != nil {
		return fmt.Errorf("sqlite: set password: %w", err)
	}
	if err := requireOne(res); err != nil {
		return fmt.Errorf("sqlite: set password: %w", err)
	}
	return nil
}

// ReplaceHash is the compare-and-swap a login uses to upgrade an imported or
// outdated hash after verifying the password: it stores newHash and class
// only while the account's hash still equals oldHash. Otherwise it returns
// an error wrapping store.ErrStale (the hash changed since the login read it,
// for example by a reset, which must win), or store.ErrNotFound when no
// account has that ID.
func (s *Store) ReplaceHash(ctx context.Context, id, oldHash, newHash, class string, now time.Time) (err error) {
	if newHash == "" || class == "" {
		return errors.New("sqlite: replace hash: empty hash or hash class")
	}
	tx, err := s.rw.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: replace hash: %w", err)
	}
	defer func() {
		if err != nil {
			err = withRollback(err, tx)
		}
	}()
	res, err := tx.ExecContext(ctx,
		`UPDATE users SET password_hash = ?, hash_class = ?, updated_at = ? WHERE id = ? AND password_hash = ?`,
		newHash, class, now.UnixMilli(), id, oldHash)
	if err != nil {
		return fmt.Errorf("sqlite: replace hash: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: replace hash: %w", err)
	}
	if n == 0 {
		// Tell a missing account from a changed hash, inside the same
		// transaction so the answer matches the update's view.
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)`, id).Scan(&exists); err != nil {
			return fmt.Errorf("sqlite: replace hash: %w", err)
		}
		if !exists {
			return fmt.Errorf("sqlite: replace hash: %w", store.ErrNotFound)
		}
		return fmt.Errorf("sqlite: replace hash: %w", store.ErrStale)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: replace hash: commit: %w", err)
	}
	return nil
}

// HashClasses returns the distinct hash classes stored, sorted, so the server
// can size its failure-timing floor to the slowest scheme it must verify
// without reading every hash.
func (s *Store) HashClasses(ctx context.Context) ([]string, error) {
	rows, err := s.ro.QueryContext(ctx, `SELECT DISTINCT hash_class FROM users ORDER BY hash_class`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: hash classes: %w", err)
	}
	defer rows.Close()
	classes := []string{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("sqlite: hash classes: %w", err)
		}
		classes = append(classes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: hash classes: %w", err)
	}
	return classes, nil
}

// validate rejects what the schema's CHECK constraints would, with a clearer
// message. It never echoes the hash.
func validate(u store.NewUser) error {
	switch {
	case u.Username == "":
		return errors.New("empty username")
	case u.PasswordHash == "":
		return errors.New("empty password hash")
	case u.HashClass == "":
		return errors.New("empty hash class")
	}
	return nil
}

// newID returns 128 random bits from crypto/rand as 32 lowercase hex digits.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// scanner is the part of *sql.Row and *sql.Rows that scanUser needs.
type scanner interface {
	Scan(dest ...any) error
}

func scanUser(r scanner) (store.User, error) {
	var (
		u                store.User
		created, updated int64
	)
	if err := r.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.HashClass, &u.Disabled, &created, &updated, &u.DeviceEpoch, &u.Scopes); err != nil {
		return store.User{}, err
	}
	u.CreatedAt = fromMillis(created)
	u.UpdatedAt = fromMillis(updated)
	return u, nil
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// mapErr turns the driver's answers into the store sentinels: no row becomes
// store.ErrNotFound, a unique violation store.ErrConflict. The driver's
// message names the constraint, never a bound value, so no hash leaks.
func mapErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *drv.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
		return store.ErrConflict
	}
	return err
}

// requireOne maps an update that matched no row to store.ErrNotFound.
func requireOne(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// withRollback undoes tx after err and returns err, joined with the
// rollback's own failure if any. A transaction already finished (for example
// by a cancelled context) is not a failure. err is returned as is otherwise,
// so callers may still type-assert it.
func withRollback(err error, tx *sql.Tx) error {
	if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
		return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
	}
	return err
}
