package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	drv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/sealedsql"
)

// Sealed secrets and signing keys (migration 00005). The store never sees
// plaintext: blobs are sealed by the caller (package seal) and kept as
// base64url TEXT.

// sealedDialect is this store's SQL for the sealed tables.
var sealedDialect = sealedsql.Dialect{Name: "sqlite", Numbered: false, KidOrder: `kid`, MapErr: mapKeyErr}

// GetOrCreateSecret returns the sealed secret stored under name, storing
// sealed first when there is none, atomically (sealedsql).
func (s *Store) GetOrCreateSecret(ctx context.Context, name string, sealed []byte, now time.Time) ([]byte, error) {
	return sealedDialect.GetOrCreateSecret(ctx, s.rw, name, sealed, now)
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
		sealedsql.BlobEncoding.EncodeToString(new), name, sealedsql.BlobEncoding.EncodeToString(old))
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

// SigningKeys returns every stored signing key, oldest first (by creation,
// then kid, bytewise); empty, not nil, when there is none.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return sealedDialect.SigningKeys(ctx, s.ro)
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
	if err := sealedDialect.UpdateSigningKeys(ctx, tx, fn); err != nil {
		return err
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
