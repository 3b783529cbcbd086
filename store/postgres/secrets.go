package postgres

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/credshield/credshield/store"
)

// Sealed secrets and signing keys (migration 00005). The store never sees
// plaintext: blobs are sealed by the caller (package seal) and kept as
// base64url TEXT, so the one migration file fits both dialects.

var blobEnc = base64.RawURLEncoding

// GetOrCreateSecret returns the sealed secret stored under name, storing
// sealed first when there is none, atomically: when replicas start
// together, the first insert wins and every replica gets its blob (which
// may not be the one it passed), so all share one secret.
func (s *Store) GetOrCreateSecret(ctx context.Context, name string, sealed []byte, now time.Time) ([]byte, error) {
	if name == "" || len(sealed) == 0 {
		return nil, errors.New("postgres: get or create secret: empty name or blob")
	}
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO sealed_secrets (name, sealed, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
		name, blobEnc.EncodeToString(sealed), now.UnixMilli()); err != nil {
		return nil, fmt.Errorf("postgres: get or create secret %s: %w", name, err)
	}
	var enc string
	if err := s.db.QueryRowContext(ctx, `SELECT sealed FROM sealed_secrets WHERE name = $1`, name).Scan(&enc); err != nil {
		return nil, fmt.Errorf("postgres: get or create secret %s: %w", name, mapErr(err))
	}
	b, err := blobEnc.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("postgres: get or create secret %s: stored blob: %w", name, err)
	}
	return b, nil
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
		blobEnc.EncodeToString(new), name, blobEnc.EncodeToString(old)).Scan(&updated, &exists)
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

const signingKeyColumns = `kid, alg, created_at, not_before, sealed`

// querier is what signingKeys reads through: the pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// SigningKeys returns every stored signing key, oldest first (by creation,
// then kid, bytewise); empty, not nil, when there is none.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	keys, err := signingKeys(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("postgres: signing keys: %w", err)
	}
	return keys, nil
}

func signingKeys(ctx context.Context, q querier) ([]store.SigningKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY created_at, kid COLLATE "C"`)
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
	keys, err := signingKeys(ctx, tx)
	if err != nil {
		return fmt.Errorf("postgres: update signing keys: %w", err)
	}
	change, err := fn(keys)
	if err != nil {
		return err
	}
	for _, kid := range change.Delete {
		if _, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE kid = $1`, kid); err != nil {
			return fmt.Errorf("postgres: update signing keys: delete %s: %w", kid, err)
		}
	}
	for _, k := range change.Add {
		if k.ID == "" || k.Alg == "" || len(k.Sealed) == 0 {
			return errors.New("postgres: update signing keys: key without kid, alg or sealed blob")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5)`,
			k.ID, k.Alg, k.Created.UnixMilli(), k.NotBefore.UnixMilli(), blobEnc.EncodeToString(k.Sealed)); err != nil {
			return fmt.Errorf("postgres: update signing keys: add %s: %w", k.ID, mapErr(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("postgres: update signing keys: commit: %w", err)
	}
	return nil
}
