package sqlite

import (
	"context"
	"database/sql"
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
	"github.com/credshield/credshield/internal/store/sqlstore"
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
// Its methods are package sqlstore's, over SQLite's dialect. A Store is
// safe for concurrent use by many goroutines: it holds database/sql pools,
// one single-connection pool for writes and one pool of read-only
// connections (see the package documentation).
type Store struct {
	*sqlstore.Store
	rw *sql.DB // exactly one connection: writes, transactions, migrations
	ro *sql.DB // query_only connections: reads
}

// dialect is SQLite's SQL. Every transaction begins IMMEDIATE (the _txlock
// DSN parameter), taking the database's write lock before its first read,
// so no statement needs a row lock (ForUpdate, LockKeys): writers in this
// process queue for the one write connection, other processes in
// busy_timeout.
var dialect = sqlstore.Dialect{
	Name:      "sqlite",
	Unlimited: "LIMIT -1",
	MapErr:    mapErr,
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
	return &Store{Store: sqlstore.New(dialect, ro, rw), rw: rw, ro: ro}, nil
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

// mapErr turns a duplicate (a unique or primary-key constraint, such as a
// taken username or an existing kid) into store.ErrConflict, replacing the
// driver's error, so no bound value can reach a message.
func mapErr(err error) error {
	var se *drv.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return store.ErrConflict
		}
	}
	return err
}

var _ store.Store = (*Store)(nil)
