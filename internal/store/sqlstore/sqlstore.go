// Package sqlstore is credshield's store written once in SQL for both of
// its databases: users, refresh-token families, revoked jtis, sealed
// secrets and signing keys, password screening. store/sqlite and
// store/postgres each open their database, apply the migrations and hand
// their pools to New with their Dialect: placeholders, bytewise collation,
// row and key locking, and the mapping of driver errors. Everything else —
// statements, transactions, compare-and-swaps, scanning, the sentinel
// errors of package store — is here, so the two backends cannot drift
// apart (package storetest checks that they do not).
//
// # Writing SQL here
//
// Statements use ? placeholders; Dialect.sql numbers them ($1, $2 ...) for
// PostgreSQL, so no statement may contain a ? anywhere else (in a string
// literal or an operator). Syntax both databases share is used as is:
// INSERT ... ON CONFLICT ... DO UPDATE with excluded, EXISTS, COALESCE,
// CASE. Times are BIGINT unix milliseconds and sealed blobs base64url TEXT,
// so the one set of migration files fits both (package migrations).
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// Dialect is what differs between the two databases' SQL. The zero value
// is not usable: Name and MapErr are required.
type Dialect struct {
	// Name prefixes every error ("sqlite", "postgres").
	Name string
	// Numbered selects $1, $2 ... placeholders (PostgreSQL) over ?.
	Numbered bool
	// Bytewise is the collation clause that orders text bytewise, added to
	// every ORDER BY on text: "" where that is the default (SQLite's
	// BINARY), ` COLLATE "C"` in PostgreSQL, whose default follows the
	// database's locale.
	Bytewise string
	// ForUpdate is the suffix that locks the rows a SELECT reads until the
	// transaction ends (" FOR UPDATE"). It is "" where a transaction holds
	// the whole database's write lock from its start (SQLite, whose
	// transactions begin IMMEDIATE); statements that exist only to lock a
	// row are then skipped.
	ForUpdate string
	// LockKeys is a statement run first in UpdateSigningKeys's
	// transaction, so that writers of the signing keys in every process
	// run one after the other even while the table is empty (nothing for
	// ForUpdate to lock); "" where the transaction already excludes them.
	LockKeys string
	// Unlimited is the LIMIT clause that keeps every row, needed before an
	// OFFSET: "LIMIT -1" in SQLite, "LIMIT ALL" in PostgreSQL.
	Unlimited string
	// MapErr turns a driver's error into the store sentinels: a unique or
	// primary-key violation into one wrapping store.ErrConflict, and must
	// not let a bound value (a hash) into the message. Other errors are
	// returned as they are. sql.ErrNoRows is mapped before MapErr is asked.
	MapErr func(error) error
}

// sql returns query with its ? placeholders in this dialect's form.
func (d Dialect) sql(query string) string {
	if !d.Numbered {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// mapErr turns no row into store.ErrNotFound and the rest through the
// dialect's mapping.
func (d Dialect) mapErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return d.MapErr(err)
}

// Store is the store over a dialect's pools. Create it with New (a
// backend's Open does); the zero value is not usable. It is safe for
// concurrent use by many goroutines, as the pools are.
type Store struct {
	d Dialect
	r *sql.DB // reads
	w *sql.DB // writes and every transaction
}

// New returns the store that reads through read and writes through write
// (the same pool, or two on one database). Transactions begin on write with
// the pool's default options: a backend that must lock more at BEGIN (SQLite
// IMMEDIATE) sets it on its connections. Close closes both pools.
func New(d Dialect, read, write *sql.DB) *Store {
	return &Store{d: d, r: read, w: write}
}

// Close closes the pools. Calls in flight may fail; call it once.
func (s *Store) Close() error {
	if s.r == s.w {
		return s.w.Close()
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

// Ping checks that the database answers on every pool, for readiness
// probes.
func (s *Store) Ping(ctx context.Context) error {
	for _, db := range []*sql.DB{s.r, s.w} {
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("%s: ping: %w", s.d.Name, err)
		}
	}
	return nil
}

// inTx runs fn in a transaction on the write pool and commits when fn
// returns nil; otherwise it rolls back and returns fn's error as is (so
// callers may still type-assert it), joined with the rollback's own failure
// if any. what prefixes the errors of BEGIN and COMMIT.
func (s *Store) inTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", s.d.Name, what, err)
	}
	if err := fn(tx); err != nil {
		// A transaction already finished (for example by a cancelled
		// context) is not a rollback failure.
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %s: commit: %w", s.d.Name, what, err)
	}
	return nil
}

// querier reads: a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// execer writes: a pool or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// scanner is the part of *sql.Row and *sql.Rows the scan helpers need.
type scanner interface {
	Scan(dest ...any) error
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

// newID returns 128 random bits from crypto/rand as 32 lowercase hex digits.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

var _ store.Store = (*Store)(nil)
