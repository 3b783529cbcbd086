package postgres

import (
	"context"
	"database/sql"
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
	"github.com/credshield/credshield/internal/store/sqlstore"
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
// Its methods are package sqlstore's, over PostgreSQL's dialect. A Store
// is safe for concurrent use by many goroutines, and several Stores (one
// per replica) may share one database.
type Store struct {
	*sqlstore.Store
	db *sql.DB
}

// dialect is PostgreSQL's SQL. Replicas write at once, so the statements
// that must see one another lock: a rotation locks its refresh family, a
// login that caps its user's families locks the user's row (FOR UPDATE),
// and a change of the signing keys takes a transaction-scoped advisory lock
// per database and schema, derived in SQL so it follows the search_path
// (coalesce, because pg_advisory_xact_lock(NULL) returns without locking).
var dialect = sqlstore.Dialect{
	Name:      "postgres",
	Numbered:  true,
	Bytewise:  ` COLLATE "C"`,
	ForUpdate: " FOR UPDATE",
	LockKeys: `SELECT pg_advisory_xact_lock(hashtextextended(
		'credshield-signing-keys/' || current_database() || '/' || coalesce(current_schema(), ''), 0))`,
	Unlimited: "LIMIT ALL",
	MapErr:    mapErr,
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
	return &Store{Store: sqlstore.New(dialect, db, db), db: db}, nil
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

// mapErr turns a unique violation (a taken username, an existing kid)
// into store.ErrConflict. PostgreSQL's message for it can quote the
// duplicate value (in its DETAIL, which pgconn leaves out of Error), so the
// error is replaced, not wrapped.
func mapErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == uniqueViolation {
		return fmt.Errorf("%w (constraint %s)", store.ErrConflict, pe.ConstraintName)
	}
	return err
}

var _ store.Store = (*Store)(nil)
