package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/migrations"
)

const (
	// maxConns bounds the pool per replica: PostgreSQL's own limit
	// (max_connections, 100 by default) is shared by every replica.
	maxConns = 16
	// maxIdleConns keeps enough connections warm for the login path.
	maxIdleConns = 8
	// connMaxIdle closes connections idle this long, so a quiet replica
	// gives its connections back.
	connMaxIdle = 5 * time.Minute
	// defaultConnectTimeout bounds each new connection (dial and startup)
	// unless the DSN sets connect_timeout: a PostgreSQL that silently
	// stops answering must turn into a 503, not a request that hangs.
	defaultConnectTimeout = 5 * time.Second
	// uniqueViolation is PostgreSQL's SQLSTATE for a unique constraint.
	uniqueViolation = "23505"
)

// Store is a PostgreSQL-backed account store. Create it with Open and
// release it with Close; the zero value is not usable.
//
// A Store is safe for concurrent use by many goroutines, and several Stores
// (one per replica) may share one database.
type Store struct {
	db *sql.DB
}

// Open connects to the PostgreSQL database named by dsn (a postgres:// or
// postgresql:// URL, or a key=value string, as pgx accepts) and applies any
// pending migrations under an advisory lock, so replicas started together
// migrate once. ctx bounds the connection and the migrations only.
//
// Errors never include the DSN, which may carry a password.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in parse errors, but the message can
		// still quote the rest of the DSN; say only that it did not parse.
		return nil, errors.New("postgres: open: invalid connection string")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(connMaxIdle)
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("postgres: open: %w", err), db.Close())
	}
	if err := migrate(ctx, db); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return &Store{db: db}, nil
}

// migrate applies pending migrations through a goose Provider holding a
// session advisory lock whose key is derived from the database and schema,
// so two stores on one schema never migrate at once while stores on
// different schemas (parallel tests) do not wait for each other.
func migrate(ctx context.Context, db *sql.DB) error {
	p, err := newProvider(ctx, db)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	// p.Close would close db, which the Store still needs.
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// newProvider returns a goose Provider for the migrations on db with the
// schema's migration lock.
func newProvider(ctx context.Context, db *sql.DB) (*goose.Provider, error) {
	var dbName, schema sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT current_database(), current_schema()`).Scan(&dbName, &schema); err != nil {
		return nil, err
	}
	if !schema.Valid {
		return nil, errors.New("no schema of the search_path exists")
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "credshield-migrate\x00%s\x00%s", dbName.String, schema.String)
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(int64(h.Sum64())),
		lock.WithLockTimeout(1, 300), // poll each second for 5 minutes
	)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker))
}

// Close closes the pool. Calls in flight may fail; call it once.
func (s *Store) Close() error {
	return s.db.Close()
}

// Ping checks that the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// WithAdvisoryLock runs fn while holding the PostgreSQL advisory lock key,
// waiting (as long as ctx allows) while another session, on this replica or
// another, holds it. Work that must happen once across replicas, such as
// staging a new signing key, runs under it.
//
// The lock is transaction-scoped: it is released when fn returns, and by the
// server if this process or its connection dies, so a crashed replica never
// leaves it held. fn's own database calls use other connections of the pool;
// it must not call WithAdvisoryLock with the same key (it would wait for
// itself). fn's error is returned as is.
func (s *Store) WithAdvisoryLock(ctx context.Context, key int64, fn func() error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("postgres: advisory lock: %w", err)
	}
	defer func() {
		// Rollback ends the transaction and with it the lock; nothing was
		// written in it.
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) && err == nil {
			err = fmt.Errorf("postgres: advisory unlock: %w", rbErr)
		}
	}()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
		return fmt.Errorf("postgres: advisory lock: %w", err)
	}
	return fn()
}

const userColumns = `id, username, password_hash, hash_class, disabled, created_at, updated_at, device_epoch, scopes`

const insertUser = `INSERT INTO users (` + userColumns + `) VALUES ($1, $2, $3, $4, FALSE, $5, $6, 0, '')`

// CreateUser stores a new, enabled account under a fresh random ID and
// returns it. It returns an error wrapping store.ErrConflict when the
// username is taken.
func (s *Store) CreateUser(ctx context.Context, u store.NewUser, now time.Time) (store.User, error) {
	if err := validate(u); err != nil {
		return store.User{}, fmt.Errorf("postgres: create user: %w", err)
	}
	id, err := newID()
	if err != nil {
		return store.User{}, fmt.Errorf("postgres: create user: %w", err)
	}
	ms := now.UnixMilli()
	if _, err := s.db.ExecContext(ctx, insertUser, id, u.Username, u.PasswordHash, u.HashClass, ms, ms); err != nil {
		return store.User{}, fmt.Errorf("postgres: create user: %w", mapErr(err))
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
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("postgres: create users: %w", err)
	}
	defer func() {
		if err != nil {
			err = withRollback(err, tx)
		}
	}()
	stmt, err := tx.PrepareContext(ctx, insertUser)
	if err != nil {
		return fmt.Errorf("postgres: create users: %w", err)
	}
	defer stmt.Close()
	ms := now.UnixMilli()
	for i, u := range us {
		id, err := newID()
		if err != nil {
			return fmt.Errorf("postgres: create users: %w", err)
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
		return fmt.Errorf("postgres: create users: commit: %w", err)
	}
	return nil
}

// UserByName returns the account with the given (normalised) username, or
// an error wrapping store.ErrNotFound.
func (s *Store) UserByName(ctx context.Context, username string) (store.User, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username = $1`, username)
	u, err := scanUser(row)
	if err != nil {
		return store.User{}, fmt.Errorf("postgres: user by name: %w", mapErr(err))
	}
	return u, nil
}

// UserByID returns the account with the given ID (a token's sub claim), or
// an error wrapping store.ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
	u, err := scanUser(row)
	if err != nil {
		return store.User{}, fmt.Errorf("postgres: user by id: %w", mapErr(err))
	}
	return u, nil
}

// ListUsers returns every account ordered by username (empty, not nil, when
// there are none). It loads all rows into memory, which suits the
// administration CLI, not a request path.
//
// Usernames are ordered bytewise (COLLATE "C"), as SQLite orders them,
// whatever the database's collation.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY username COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	defer rows.Close()
	users := []store.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	return users, nil
}

// SetDisabled disables or re-enables the account with the given username,
// or returns an error wrapping store.ErrNotFound. Both raise the account
// epoch, so no device credential or access token issued before survives
// the change (see store.User.DeviceEpoch).
func (s *Store) SetDisabled(ctx context.Context, username string, disabled bool, now time.Time) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE users SET disabled = $1, updated_at = $2, device_epoch = device_epoch + 1 WHERE username = $3`,
		disabled, now.UnixMilli(), username)
	if err != nil {
		return fmt.Errorf("postgres: set disabled: %w", err)
	}
	if err := requireOne(res); err != nil {
		return fmt.Errorf("postgres: set disabled: %w", err)
	}
	return nil
}

// SetScopes replaces the scopes granted to the account with the given
// username (space-delimited, already validated) and raises its account
// epoch, so access tokens issued under the old grants stop working; or
// returns an error wrapping store.ErrNotFound.
func (s *Store) SetScopes(ctx context.Context, username, scopes string, now time.Time) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE users SET scopes = $1, updated_at = $2, device_epoch = device_epoch + 1 WHERE username = $3`,
		scopes, now.UnixMilli(), username)
	if err != nil {
		return fmt.Errorf("postgres: set scopes: %w", err)
	}
	if err := requireOne(res); err != nil {
		return fmt.Errorf("postgres: set scopes: %w", err)
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
		return errors.New("postgres: set password: empty hash or hash class")
	}
	res, err := s.db.ExecContext(ctx,
		`UPDATE users SET password_hash = $1, hash_class = $2, updated_at = $3, device_epoch = device_epoch + 1 WHERE username = $4`,
		hash, class, now.UnixMilli(), username)
	if err != nil {
		return fmt.Errorf("postgres: set password: %w", err)
	}
	if err := requireOne(res); err != nil {
		return fmt.Errorf("postgres: set password: %w", err)
	}
	return nil
}

// ReplaceHash is the compare-and-swap a login uses to upgrade an imported or
// outdated hash after verifying the password: it stores newHash and class
// only while the account's hash still equals oldHash. Otherwise it returns
// an error wrapping store.ErrStale (the hash changed since the login read it,
// for example by a reset on any replica, which must win), or
// store.ErrNotFound when no account has that ID.
func (s *Store) ReplaceHash(ctx context.Context, id, oldHash, newHash, class string, now time.Time) error {
	if newHash == "" || class == "" {
		return errors.New("postgres: replace hash: empty hash or hash class")
	}
	// One statement: the UPDATE's WHERE is re-checked against a row a
	// concurrent writer committed, and the EXISTS tells a missing account
	// from a changed hash as of the same statement.
	var updated, exists bool
	err := s.db.QueryRowContext(ctx,
		`WITH u AS (
			UPDATE users SET password_hash = $1, hash_class = $2, updated_at = $3
			WHERE id = $4 AND password_hash = $5 RETURNING 1
		 )
		 SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM users WHERE id = $4)`,
		newHash, class, now.UnixMilli(), id, oldHash).Scan(&updated, &exists)
	switch {
	case err != nil:
		return fmt.Errorf("postgres: replace hash: %w", err)
	case updated:
		return nil
	case !exists:
		return fmt.Errorf("postgres: replace hash: %w", store.ErrNotFound)
	default:
		return fmt.Errorf("postgres: replace hash: %w", store.ErrStale)
	}
}

// HashClasses returns the distinct hash classes stored, sorted bytewise, so
// the server can size its failure-timing floor to the slowest scheme it must
// verify without reading every hash.
func (s *Store) HashClasses(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT hash_class COLLATE "C" AS c FROM users ORDER BY c`)
	if err != nil {
		return nil, fmt.Errorf("postgres: hash classes: %w", err)
	}
	defer rows.Close()
	classes := []string{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("postgres: hash classes: %w", err)
		}
		classes = append(classes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: hash classes: %w", err)
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
// store.ErrNotFound, a unique violation store.ErrConflict. PostgreSQL's
// message for a unique violation can quote the duplicate value (in its
// DETAIL, which pgconn leaves out of Error), so the error is replaced, not
// wrapped.
func mapErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == uniqueViolation {
		return fmt.Errorf("%w (constraint %s)", store.ErrConflict, pe.ConstraintName)
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
