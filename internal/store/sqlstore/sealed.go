package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// Sealed secrets and signing keys (migration 00005). The store never sees
// plaintext: blobs are sealed by the caller (package seal, under a
// key-encryption key the database never holds) and kept as base64url TEXT.

// blobEncoding is how sealed blobs are kept in TEXT columns.
var blobEncoding = base64.RawURLEncoding

// GetOrCreateSecret returns the sealed secret stored under name, storing
// sealed first when there is none, atomically: when replicas or processes
// start together, the first insert wins and every caller gets its blob
// (which may not be the one it passed), so all share one secret.
func (s *Store) GetOrCreateSecret(ctx context.Context, name string, sealed []byte, now time.Time) ([]byte, error) {
	if name == "" || len(sealed) == 0 {
		return nil, fmt.Errorf("%s: get or create secret: empty name or blob", s.d.Name)
	}
	if _, err := s.w.ExecContext(ctx,
		s.d.sql(`INSERT INTO sealed_secrets (name, sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`),
		name, blobEncoding.EncodeToString(sealed), now.UnixMilli()); err != nil {
		return nil, fmt.Errorf("%s: get or create secret %s: %w", s.d.Name, name, err)
	}
	var enc string
	if err := s.w.QueryRowContext(ctx, s.d.sql(`SELECT sealed FROM sealed_secrets WHERE name = ?`), name).Scan(&enc); err != nil {
		return nil, fmt.Errorf("%s: get or create secret %s: %w", s.d.Name, name, s.d.mapErr(err))
	}
	b, err := blobEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%s: get or create secret %s: stored blob: %w", s.d.Name, name, err)
	}
	return b, nil
}

// ReplaceSecret swaps the sealed secret under name from old to new (a
// re-seal under a new key-encryption key), only while it still holds old;
// otherwise it returns an error wrapping store.ErrStale (another process
// or replica re-sealed it first), or store.ErrNotFound when there is no
// such secret. Secrets are never deleted, so the existence check after a
// swap that matched nothing cannot be outrun.
func (s *Store) ReplaceSecret(ctx context.Context, name string, old, new []byte) error {
	if len(new) == 0 {
		return fmt.Errorf("%s: replace secret: empty blob", s.d.Name)
	}
	res, err := s.w.ExecContext(ctx, s.d.sql(`UPDATE sealed_secrets SET sealed = ? WHERE name = ? AND sealed = ?`),
		blobEncoding.EncodeToString(new), name, blobEncoding.EncodeToString(old))
	if err == nil {
		err = requireOne(res)
	}
	if errors.Is(err, store.ErrNotFound) {
		err = s.staleOrMissing(ctx, s.w, `SELECT EXISTS (SELECT 1 FROM sealed_secrets WHERE name = ?)`, name)
	}
	if err != nil {
		return fmt.Errorf("%s: replace secret %s: %w", s.d.Name, name, err)
	}
	return nil
}

const signingKeyColumns = `kid, alg, created_at, not_before, sealed`

// SigningKeys returns every stored signing key, oldest first (by creation,
// then kid, bytewise); empty, not nil, when there is none.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return s.signingKeys(ctx, s.r)
}

func (s *Store) signingKeys(ctx context.Context, q querier) ([]store.SigningKey, error) {
	keys, err := collect(ctx, q, `SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY created_at, kid`+s.d.Bytewise,
		func(r scanner) (store.SigningKey, error) {
			var (
				k                  store.SigningKey
				created, notBefore int64
				enc                string
			)
			if err := r.Scan(&k.ID, &k.Alg, &created, &notBefore, &enc); err != nil {
				return k, err
			}
			var err error
			if k.Sealed, err = blobEncoding.DecodeString(enc); err != nil {
				return k, fmt.Errorf("signing key %s: stored blob: %w", k.ID, err)
			}
			k.Created, k.NotBefore = fromMillis(created), fromMillis(notBefore)
			return k, nil
		})
	if err != nil {
		return nil, fmt.Errorf("%s: signing keys: %w", s.d.Name, err)
	}
	return keys, nil
}

// UpdateSigningKeys reads every signing key and applies the change fn
// returns, in one transaction that first excludes every other writer of
// the keys, in this process or another (SQLite: the IMMEDIATE
// transaction's write lock; PostgreSQL: a transaction-scoped advisory lock
// per database and schema, gone with the transaction also when the process
// or its connection dies): a server's automatic rotation and `credshield
// keys rotate`, or replicas rotating at the same moment, run one after the
// other, and the second sees the first's key, so it can decide not to
// rotate again.
//
// fn runs while the lock is held: it should be quick and must not call
// the store (SQLite's one write connection is busy with the transaction).
// An error from fn rolls back and is returned as is; adding a kid that
// exists is an error wrapping store.ErrConflict.
func (s *Store) UpdateSigningKeys(ctx context.Context, fn func(keys []store.SigningKey) (store.KeyChange, error)) error {
	const what = "update signing keys"
	return s.inTx(ctx, what, func(tx *sql.Tx) error {
		if s.d.LockKeys != "" {
			if _, err := tx.ExecContext(ctx, s.d.LockKeys); err != nil {
				return fmt.Errorf("%s: %s: lock: %w", s.d.Name, what, err)
			}
		}
		keys, err := s.signingKeys(ctx, tx)
		if err != nil {
			return err
		}
		change, err := fn(keys)
		if err != nil {
			return err
		}
		for _, kid := range change.Delete {
			if _, err := tx.ExecContext(ctx, s.d.sql(`DELETE FROM signing_keys WHERE kid = ?`), kid); err != nil {
				return fmt.Errorf("%s: %s: delete %s: %w", s.d.Name, what, kid, err)
			}
		}
		for _, k := range change.Add {
			if k.ID == "" || k.Alg == "" || len(k.Sealed) == 0 {
				return fmt.Errorf("%s: %s: key without kid, alg or sealed blob", s.d.Name, what)
			}
			if _, err := tx.ExecContext(ctx, s.d.sql(`INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (?, ?, ?, ?, ?)`),
				k.ID, k.Alg, k.Created.UnixMilli(), k.NotBefore.UnixMilli(), blobEncoding.EncodeToString(k.Sealed)); err != nil {
				return fmt.Errorf("%s: %s: add %s: %w", s.d.Name, what, k.ID, s.d.mapErr(err))
			}
		}
		return nil
	})
}
