// Package sealedsql is the SQL of the sealed_secrets and signing_keys tables
// (migration 00005) that store/sqlite and store/postgres share: the same
// statements over database/sql, written once. A store passes its Dialect
// (placeholders, kid ordering, error mapping) and keeps what truly differs
// — its locking and its connections.
//
// The store never sees plaintext: blobs are sealed by the caller (package
// seal) and kept as base64url TEXT, so one migration fits both dialects.
package sealedsql

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// Dialect is what differs between the two stores' SQL.
type Dialect struct {
	// Name prefixes errors ("sqlite", "postgres").
	Name string
	// Numbered selects $1, $2 ... placeholders (PostgreSQL) over ?.
	Numbered bool
	// KidOrder is the ORDER BY expression for kid, bytewise in both.
	KidOrder string
	// MapErr turns driver errors into the store sentinels (no row:
	// store.ErrNotFound; a duplicate key: store.ErrConflict).
	MapErr func(error) error
}

// BlobEncoding is how sealed blobs are kept in TEXT columns.
var BlobEncoding = base64.RawURLEncoding

// Querier reads: a pool or a transaction.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Execer writes: a pool or a transaction.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// params returns n placeholders joined by ", ", the first at index 1.
func (d Dialect) params(n int) string {
	s := ""
	for i := 1; i <= n; i++ {
		if i > 1 {
			s += ", "
		}
		s += d.param(i)
	}
	return s
}

func (d Dialect) param(i int) string {
	if d.Numbered {
		return "$" + strconv.Itoa(i)
	}
	return "?"
}

// GetOrCreateSecret returns the sealed secret stored under name, storing
// sealed first when there is none, atomically: when replicas or processes
// start together, the first insert wins and every caller gets its blob
// (which may not be the one it passed), so all share one secret.
func (d Dialect) GetOrCreateSecret(ctx context.Context, db interface {
	Querier
	Execer
}, name string, sealed []byte, now time.Time) ([]byte, error) {
	if name == "" || len(sealed) == 0 {
		return nil, fmt.Errorf("%s: get or create secret: empty name or blob", d.Name)
	}
	if _, err := db.ExecContext(ctx,
		`INSERT INTO sealed_secrets (name, sealed, created_at) VALUES (`+d.params(3)+`) ON CONFLICT (name) DO NOTHING`,
		name, BlobEncoding.EncodeToString(sealed), now.UnixMilli()); err != nil {
		return nil, fmt.Errorf("%s: get or create secret %s: %w", d.Name, name, err)
	}
	var enc string
	if err := db.QueryRowContext(ctx, `SELECT sealed FROM sealed_secrets WHERE name = `+d.param(1), name).Scan(&enc); err != nil {
		return nil, fmt.Errorf("%s: get or create secret %s: %w", d.Name, name, d.MapErr(err))
	}
	b, err := BlobEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%s: get or create secret %s: stored blob: %w", d.Name, name, err)
	}
	return b, nil
}

const signingKeyColumns = `kid, alg, created_at, not_before, sealed`

// SigningKeys returns every stored signing key, oldest first (by
// creation, then kid, bytewise); empty, not nil, when there is none.
func (d Dialect) SigningKeys(ctx context.Context, q Querier) ([]store.SigningKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY created_at, `+d.KidOrder)
	if err != nil {
		return nil, fmt.Errorf("%s: signing keys: %w", d.Name, err)
	}
	defer rows.Close()
	keys := []store.SigningKey{}
	for rows.Next() {
		var (
			k                  store.SigningKey
			created, notBefore int64
			enc                string
		)
		if err := rows.Scan(&k.ID, &k.Alg, &created, &notBefore, &enc); err != nil {
			return nil, fmt.Errorf("%s: signing keys: %w", d.Name, err)
		}
		if k.Sealed, err = BlobEncoding.DecodeString(enc); err != nil {
			return nil, fmt.Errorf("%s: signing key %s: stored blob: %w", d.Name, k.ID, err)
		}
		k.Created, k.NotBefore = time.UnixMilli(created).UTC(), time.UnixMilli(notBefore).UTC()
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: signing keys: %w", d.Name, err)
	}
	return keys, nil
}

// UpdateSigningKeys reads every signing key through tx, which the store
// has already locked against other writers of the table, and applies the
// change fn returns. An error from fn is returned as is (the store rolls
// back); adding a kid that exists is an error wrapping store.ErrConflict.
func (d Dialect) UpdateSigningKeys(ctx context.Context, tx interface {
	Querier
	Execer
}, fn func(keys []store.SigningKey) (store.KeyChange, error)) error {
	keys, err := d.SigningKeys(ctx, tx)
	if err != nil {
		return err
	}
	change, err := fn(keys)
	if err != nil {
		return err
	}
	for _, kid := range change.Delete {
		if _, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE kid = `+d.param(1), kid); err != nil {
			return fmt.Errorf("%s: update signing keys: delete %s: %w", d.Name, kid, err)
		}
	}
	for _, k := range change.Add {
		if k.ID == "" || k.Alg == "" || len(k.Sealed) == 0 {
			return errors.New(d.Name + ": update signing keys: key without kid, alg or sealed blob")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (`+d.params(5)+`)`,
			k.ID, k.Alg, k.Created.UnixMilli(), k.NotBefore.UnixMilli(), BlobEncoding.EncodeToString(k.Sealed)); err != nil {
			return fmt.Errorf("%s: update signing keys: add %s: %w", d.Name, k.ID, d.MapErr(err))
		}
	}
	return nil
}
