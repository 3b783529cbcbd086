package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// Refresh tokens are stored by hash (the caller's SHA-256, hex): the
// database never holds a token that could be redeemed. Families and tokens
// are written in transactions on the single write connection, so rotation
// and reuse detection are atomic.

const familyColumns = `f.id, f.user_id, f.client_id, f.scope, f.jkt, f.created_at, f.absolute_expires_at, f.revoked_at`

func scanFamily(r scanner, extra ...any) (store.RefreshFamily, error) {
	var (
		f                 store.RefreshFamily
		created, absolute int64
		revoked           sql.NullInt64
	)
	dest := append([]any{&f.ID, &f.UserID, &f.ClientID, &f.Scope, &f.JKT, &created, &absolute, &revoked}, extra...)
	if err := r.Scan(dest...); err != nil {
		return store.RefreshFamily{}, err
	}
	f.CreatedAt = fromMillis(created)
	f.AbsoluteExpiresAt = fromMillis(absolute)
	if revoked.Valid {
		f.RevokedAt = fromMillis(revoked.Int64)
	}
	return f, nil
}

// CreateRefreshFamily starts a family for f (its ID is generated; RevokedAt
// is ignored) holding one token, tokenHash, usable until idleExpiresAt (at
// most f.AbsoluteExpiresAt). It returns the family as stored.
//
// When maxLive is positive, the user's live families (not revoked, not
// expired at f.CreatedAt) beyond the maxLive newest, the new one included,
// are revoked at f.CreatedAt in the same transaction: every login starts a
// family, and a holder looping logins must not grow the table without
// bound. The oldest go first, since the newest are the sessions in use.
func (s *Store) CreateRefreshFamily(ctx context.Context, f store.RefreshFamily, tokenHash string, idleExpiresAt time.Time, maxLive int) (_ store.RefreshFamily, err error) {
	if f.UserID == "" || f.AbsoluteExpiresAt.IsZero() {
		return store.RefreshFamily{}, errors.New("sqlite: create refresh family: user and expiry are required")
	}
	if f.ID, err = newID(); err != nil {
		return store.RefreshFamily{}, fmt.Errorf("sqlite: create refresh family: %w", err)
	}
	f.CreatedAt = f.CreatedAt.Truncate(time.Millisecond).UTC()
	f.AbsoluteExpiresAt = f.AbsoluteExpiresAt.Truncate(time.Millisecond).UTC()
	f.RevokedAt = time.Time{}
	tx, err := s.rw.BeginTx(ctx, nil)
	if err != nil {
		return store.RefreshFamily{}, fmt.Errorf("sqlite: create refresh family: %w", err)
	}
	defer func() {
		if err != nil {
			err = withRollback(err, tx)
		}
	}()
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO refresh_families (id, user_id, client_id, scope, jkt, created_at, absolute_expires_at, revoked_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
		f.ID, f.UserID, f.ClientID, f.Scope, f.JKT, f.CreatedAt.UnixMilli(), f.AbsoluteExpiresAt.UnixMilli()); err != nil {
		return store.RefreshFamily{}, fmt.Errorf("sqlite: create refresh family: %w", mapErr(err))
	}
	if err := insertToken(ctx, tx, f, tokenHash, f.CreatedAt, idleExpiresAt); err != nil {
		return store.RefreshFamily{}, fmt.Errorf("sqlite: create refresh family: %w", err)
	}
	if maxLive > 0 {
		if _, err := tx.ExecContext(ctx,
			`UPDATE refresh_families SET revoked_at = ? WHERE id IN (
			   SELECT id FROM refresh_families
			    WHERE user_id = ? AND id <> ? AND revoked_at IS NULL AND absolute_expires_at > ?
			    ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?)`,
			f.CreatedAt.UnixMilli(), f.UserID, f.ID, f.CreatedAt.UnixMilli(), maxLive-1); err != nil {
			return store.RefreshFamily{}, fmt.Errorf("sqlite: create refresh family: revoke the oldest: %w", mapErr(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return store.RefreshFamily{}, fmt.Errorf("sqlite: create refresh family: commit: %w", err)
	}
	return f, nil
}

// insertToken adds a token to family f; its idle expiry never passes the
// family's absolute one.
func insertToken(ctx context.Context, tx *sql.Tx, f store.RefreshFamily, hash string, now, idleExpiresAt time.Time) error {
	if idleExpiresAt.After(f.AbsoluteExpiresAt) {
		idleExpiresAt = f.AbsoluteExpiresAt
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO refresh_tokens (hash, family_id, created_at, idle_expires_at, used_at) VALUES (?, ?, ?, ?, NULL)`,
		hash, f.ID, now.UnixMilli(), idleExpiresAt.UnixMilli())
	return mapErr(err)
}

// RefreshFamilyByToken returns the family of the token with hash tokenHash,
// whatever the state of the token or family, or an error wrapping
// store.ErrNotFound.
func (s *Store) RefreshFamilyByToken(ctx context.Context, tokenHash string) (store.RefreshFamily, error) {
	row := s.ro.QueryRowContext(ctx,
		`SELECT `+familyColumns+` FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = ?`, tokenHash)
	f, err := scanFamily(row)
	if err != nil {
		return store.RefreshFamily{}, fmt.Errorf("sqlite: refresh family: %w", mapErr(err))
	}
	return f, nil
}

// RotateRefreshToken redeems the token oldHash at now and replaces it with
// newHash (usable until idleExpiresAt, capped by the family's absolute
// expiry), in one transaction, and returns the family. It fails, changing
// nothing, with an error wrapping store.ErrNotFound (no such token),
// store.ErrRevoked (the family is revoked) or store.ErrExpired (idle or
// absolute lifetime over). A token already redeemed is reuse: the family is
// revoked at now and the error wraps store.ErrReused; the family is still
// returned, for the security event.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash, newHash string, now, idleExpiresAt time.Time) (_ store.RefreshFamily, err error) {
	tx, err := s.rw.BeginTx(ctx, nil)
	if err != nil {
		return store.RefreshFamily{}, fmt.Errorf("sqlite: rotate refresh token: %w", err)
	}
	defer func() {
		if err != nil {
			err = withRollback(err, tx)
		}
	}()
	var (
		idle int64
		used sql.NullInt64
	)
	f, err := scanFamily(tx.QueryRowContext(ctx,
		`SELECT `+familyColumns+`, t.idle_expires_at, t.used_at
		 FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = ?`, oldHash), &idle, &used)
	if err != nil {
		return store.RefreshFamily{}, fmt.Errorf("sqlite: rotate refresh token: %w", mapErr(err))
	}
	ms := now.UnixMilli()
	switch {
	case !f.RevokedAt.IsZero():
		return f, fmt.Errorf("sqlite: rotate refresh token: %w", store.ErrRevoked)
	case used.Valid:
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, ms, f.ID); err != nil {
			return f, fmt.Errorf("sqlite: rotate refresh token: revoke family: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return f, fmt.Errorf("sqlite: rotate refresh token: commit: %w", err)
		}
		f.RevokedAt = fromMillis(ms)
		return f, fmt.Errorf("sqlite: rotate refresh token: %w", store.ErrReused)
	case ms >= f.AbsoluteExpiresAt.UnixMilli() || ms >= idle:
		return f, fmt.Errorf("sqlite: rotate refresh token: %w", store.ErrExpired)
	}
	// Compare-and-set on used_at: with another backend a concurrent
	// redemption could slip between the read and this write.
	res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL`, ms, oldHash)
	if err != nil {
		return f, fmt.Errorf("sqlite: rotate refresh token: %w", err)
	}
	if err := requireOne(res); err != nil {
		return f, fmt.Errorf("sqlite: rotate refresh token: %w", store.ErrStale)
	}
	if err := insertToken(ctx, tx, f, newHash, now, idleExpiresAt); err != nil {
		return f, fmt.Errorf("sqlite: rotate refresh token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return f, fmt.Errorf("sqlite: rotate refresh token: commit: %w", err)
	}
	return f, nil
}

// RevokeRefreshFamily revokes the family id at now. Revoking a revoked
// family keeps its first revocation time; an unknown id wraps
// store.ErrNotFound.
func (s *Store) RevokeRefreshFamily(ctx context.Context, id string, now time.Time) error {
	res, err := s.rw.ExecContext(ctx,
		`UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, now.UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("sqlite: revoke refresh family: %w", err)
	}
	if err := requireOne(res); err != nil {
		return fmt.Errorf("sqlite: revoke refresh family: %w", err)
	}
	return nil
}

// RevokeUserRefreshFamilies revokes every live family of the user id at
// now (a password reset or a disable) and returns how many it revoked.
func (s *Store) RevokeUserRefreshFamilies(ctx context.Context, userID string, now time.Time) (int64, error) {
	res, err := s.rw.ExecContext(ctx,
		`UPDATE refresh_families SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, now.UnixMilli(), userID)
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke user refresh families: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke user refresh families: %w", err)
	}
	return n, nil
}

// RevokeJTI records the access token jti as revoked until expiresAt (its
// exp plus the verifiers' leeway). Revoking it again keeps the later expiry.
func (s *Store) RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error {
	if jti == "" {
		return errors.New("sqlite: revoke jti: empty jti")
	}
	_, err := s.rw.ExecContext(ctx,
		`INSERT INTO revoked_jtis (jti, expires_at) VALUES (?, ?)
		 ON CONFLICT (jti) DO UPDATE SET expires_at = CASE WHEN excluded.expires_at > revoked_jtis.expires_at THEN excluded.expires_at ELSE revoked_jtis.expires_at END`,
		jti, expiresAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("sqlite: revoke jti: %w", err)
	}
	return nil
}

// JTIRevoked reports whether the access token jti is revoked at now.
func (s *Store) JTIRevoked(ctx context.Context, jti string, now time.Time) (bool, error) {
	var revoked bool
	err := s.ro.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM revoked_jtis WHERE jti = ? AND expires_at > ?)`, jti, now.UnixMilli()).Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("sqlite: jti revoked: %w", err)
	}
	return revoked, nil
}

// PurgeExpired deletes what can no longer matter at now: refresh-token
// families past their absolute expiry (with their tokens) and revoked jtis
// past their expiry. It returns how many rows it deleted.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, q := range []string{
		`DELETE FROM refresh_families WHERE absolute_expires_at <= ?`,
		`DELETE FROM revoked_jtis WHERE expires_at <= ?`,
	} {
		res, err := s.rw.ExecContext(ctx, q, now.UnixMilli())
		if err != nil {
			return total, fmt.Errorf("sqlite: purge expired: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlite: purge expired: %w", err)
		}
		total += n
	}
	return total, nil
}
