package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/sealedsql"
)

// Sealed secrets and signing keys (migration 00005). The store never sees
// plaintext: blobs are sealed by the caller (package seal) and kept as
// base64url TEXT, so the one migration file fits both dialects.

// sealedDialect is this store's SQL for the sealed tables.
var sealedDialect = sealedsql.Dialect{Name: "postgres", Numbered: true, KidOrder: `kid COLLATE "C"`, MapErr: mapErr}

// GetOrCreateSecret returns the sealed secret stored under name, storing
// sealed first when there is none, atomically (sealedsql).
func (s *Store) GetOrCreateSecret(ctx context.Context, name string, sealed []byte, now time.Time) ([]byte, error) {
	return sealedDialect.GetOrCreateSecret(ctx, s.db, name, sealed, now)
}

// ReplaceSecret swaps the sealed secret under name from old to new (a
// re-seal under a new key-encryption key), only while it still holds old;
// otherwise it returns an error wrapping store.ErrStale (another replica
// re-sealed it first), or store.ErrNotFound when there is no such secret.
func (s *Store) ReplaceSecret(ctx context.Context, name string, old, new []byte) error {
	if len(new) == 0 {
		return errors.New("postgres: replace secret: empty blob")
	}
	var updated, exists bool
	err := s.db.QueryRowContext(ctx,
		`WITH u AS (UPDATE sealed_secrets SET sealed = $1 WHERE name = $2 AND sealed = $3 RETURNING 1)
		 SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM sealed_secrets WHERE name = $2)`,
		sealedsql.BlobEncoding.EncodeToString(new), name, sealedsql.BlobEncoding.EncodeToString(old)).Scan(&updated, &exists)
	switch {
	case err != nil:
		return fmt.Errorf("postgres: replace secret %s: %w", name, err)
	case updated:
		return nil
	case !exists:
		return fmt.Errorf("postgres: replace secret %s: %w", name, store.ErrNotFound)
	default:
		return fmt.Errorf("postgres: replace secret %s: %w", name, store.ErrStale)
	}
}

// SigningKeys returns every stored signing key, oldest first (by creation,
// then kid, bytewise); empty, not nil, when there is none.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return sealedDialect.SigningKeys(ctx, s.db)
}

// UpdateSigningKeys reads every signing key and applies the change fn
// returns, in one transaction that first takes a transaction-scoped
// advisory lock (one per database and schema): replicas rotating at the
// same moment run one after the other, and the second sees the first's key
// (READ COMMITTED reads after the lock see every commit before it), so it
// can decide not to rotate again. The lock goes with the transaction, also
// when this process or its connection dies. fn runs while the lock is held
// and should be quick; an error from fn rolls back and is returned as is.
// Adding a kid that exists is an error wrapping store.ErrConflict.
func (s *Store) UpdateSigningKeys(ctx context.Context, fn func(keys []store.SigningKey) (store.KeyChange, error)) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("postgres: update signing keys: %w", err)
	}
	defer func() {
		if err != nil {
			err = withRollback(err, tx)
		}
	}()
	// The key is derived in SQL so it follows the search_path; coalesce
	// because pg_advisory_xact_lock(NULL) returns without locking.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(
		'credshield-signing-keys/' || current_database() || '/' || coalesce(current_schema(), ''), 0))`); err != nil {
		return fmt.Errorf("postgres: update signing keys: lock: %w", err)
	}
	if err := sealedDialect.UpdateSigningKeys(ctx, tx, fn); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("postgres: update signing keys: commit: %w", err)
	}
	return nil
}
