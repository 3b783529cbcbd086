package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	drv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/credshield/credshield/store"
)

// Sealed secrets and signing keys (migration 00005). The store never sees
// plaintext: blobs are sealed by the caller (package seal) and kept as
// base64url TEXT.

var blobEnc = base64.RawURLEncoding

// GetOrCreateSecret returns the sealed secret stored under name, storing
// sealed first when there is none, atomically: when several processes
// race, the first insert wins and every caller gets its blob (which may
// not be the one it passed).
func (s *Store) GetOrCreateSecret(ctx context.Context, name string, sealed []byte, now time.Time) ([]byte, error) {
	if name == "" || len(sealed) == 0 {
		return nil, errors.New("sqlite: get or create secret: empty name or blob")
	}
	if _, err := s.rw.ExecContext(ctx,
		`INSERT INTO sealed_secrets (name, sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, blobEnc.EncodeToString(sealed), now.UnixMilli()); err != nil {
		return nil, fmt.Errorf("sqlite: get or create secret %s: %w", name, err)
	}
	var enc string
	if err := s.rw.QueryRowContext(ctx, `SELECT sealed FROM sealed_secrets WHERE name = ?`, name).Scan(&enc); err != nil {
		return nil, fmt.Errorf("sqlite: get or create secret %s: %w", name, mapErr(err))
	}
	b, err := blobEnc.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get or create secret %s: stored blob: %w", name, err)
	}
	return b, nil
}

// ReplaceSecret swaps the sealed secret under name from old to new (a
// re-seal under a new key-encryption key), only while it still holds old;
// otherwise it returns an error wrapping store.ErrStale, or store.ErrNotFound
// when there is no such secret.
func (s *Store) ReplaceSecret(ctx context.Context, name string, old, new []byte) error {
	if len(new) == 0 {
		return errors.New("sqlite: replace secret: empty blob")
	}
	res, err := s.rw.ExecContext(ctx, `UPDATE sealed_secrets SET sealed = ? WHERE name = ? AND sealed = ?`,
		blobEnc.EncodeToString(new), name, blobEnc.EncodeToString(old))
	if err != nil {
		return fmt.Errorf("sqlite: replace secret %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: replace secret %s: %w", name, err)
	} else if n == 1 {
		return nil
	}
	var exists bool
	if err := s.rw.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sealed_secrets WHERE name = ?)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("sqlite: replace secret %s: %w", name, err)
	}
	if !exists {
		return fmt.Errorf("sqlite: replace secret %s: %w", name, store.ErrNotFound)
	}
	return fmt.Errorf("sqlite: replace secret %s: %w", name, store.ErrStale)
}

const signingKeyColumns = `kid, alg, created_at, not_before, sealed`

// querier is what SigningKeys and UpdateSigningKeys read through: the read
// pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// SigningKeys returns every stored signing key, oldest first (by creation,
// then kid); empty, not nil, when there is none.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	keys, err := signingKeys(ctx, s.ro)
	if err != nil {
		return nil, fmt.Errorf("sqlite: signing keys: %w", err)
	}
	return keys, nil
}

func signingKeys(ctx context.Context, q querier) ([]store.SigningKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, err
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
			return nil, err
		}
		if k.Sealed, err = blobEnc.DecodeString(enc); err != nil {
			return nil, fmt.Errorf("key %s: stored blob: %w", k.ID, err)
		}
		k.Created, k.NotBefore = fromMillis(created), fromMillis(notBefore)
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// UpdateSigningKeys reads every signing key and applies the change fn
// returns, in one IMMEDIATE transaction: SQLite's write lock is taken
// before the read, so two processes on one file (a server's automatic
// rotation and `credshield keys rotate`) never both act on the same view.
// fn must not call the store (the one write connection is busy with its
// transaction). An error from fn rolls back and is returned as is; adding
// a kid that exists is an error wrapping store.ErrConflict.
func (s *Store) UpdateSigningKeys(ctx context.Context, fn func(keys []store.SigningKey) (store.KeyChange, error)) (err error) {
	tx, err := s.rw.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: update signing keys: %w", err)
	}
	defer func() {
		if err != nil {
			err = withRollback(err, tx)
		}
	}()
	keys, err := signingKeys(ctx, tx)
	if err != nil {
		return fmt.Errorf("sqlite: update signing keys: %w", err)
	}
	change, err := fn(keys)
	if err != nil {
		return err
	}
	for _, kid := range change.Delete {
		if _, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE kid = ?`, kid); err != nil {
			return fmt.Errorf("sqlite: update signing keys: delete %s: %w", kid, err)
		}
	}
	for _, k := range change.Add {
		if k.ID == "" || k.Alg == "" || len(k.Sealed) == 0 {
			return errors.New("sqlite: update signing keys: key without kid, alg or sealed blob")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (?, ?, ?, ?, ?)`,
			k.ID, k.Alg, k.Created.UnixMilli(), k.NotBefore.UnixMilli(), blobEnc.EncodeToString(k.Sealed)); err != nil {
			return fmt.Errorf("sqlite: update signing keys: add %s: %w", k.ID, mapKeyErr(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: update signing keys: commit: %w", err)
	}
	return nil
}

// mapKeyErr is mapErr for signing_keys, whose kid is a PRIMARY KEY: SQLite
// reports a duplicate there as SQLITE_CONSTRAINT_PRIMARYKEY, not _UNIQUE.
func mapKeyErr(err error) error {
	var se *drv.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return store.ErrConflict
	}
	return mapErr(err)
}
