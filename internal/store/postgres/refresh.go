package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// Refresh tokens are stored by hash (the caller's SHA-256, hex): the
// database never holds a token that could be redeemed. Rotation locks the
// family row before it reads the token, so concurrent redemptions of one
// token on any number of replicas are serialised: one rotates, the rest see
// reuse.

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
		return store.RefreshFamily{}, errors.New("postgres: create refresh family: user and expiry are required")
	}
	if f.ID, err = newID(); err != nil {
		return store.RefreshFamily{}, fmt.Errorf("postgres: create refresh family: %w", err)
	}
	f.CreatedAt = f.CreatedAt.Truncate(time.Millisecond).UTC()
	f.AbsoluteExpiresAt = f.AbsoluteExpiresAt.Truncate(time.Millisecond).UTC()
	f.RevokedAt = time.Time{}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.RefreshFamily{}, fmt.Errorf("postgres: create refresh family: %w", err)
	}
	defer func() {
		if err != nil {
			err = withRollback(err, tx)
		}
	}()
	if maxLive > 0 {
		// The user's row is the lock: two logins of one user at once
		// must not both count the other's family out and leave more
		// than maxLive live.
		if _, err := tx.ExecContext(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, f.UserID); err != nil {
			return store.RefreshFamily{}, fmt.Errorf("postgres: create refresh family: lock user: %w", mapErr(err))
		}
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO refresh_families (id, user_id, client_id, scope, jkt, created_at, absolute_expires_at, revoked_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)`,
		f.ID, f.UserID, f.ClientID, f.Scope, f.JKT, f.CreatedAt.UnixMilli(), f.AbsoluteExpiresAt.UnixMilli()); err != nil {
		return store.RefreshFamily{}, fmt.Errorf("postgres: create refresh family: %w", mapErr(err))
	}
	if err := insertToken(ctx, tx, f, tokenHash, f.CreatedAt, idleExpiresAt); err != nil {
		return store.RefreshFamily{}, fmt.Errorf("postgres: create refresh family: %w", err)
	}
	if maxLive > 0 {
		if _, err := tx.ExecContext(ctx,
			`UPDATE refresh_families SET revoked_at = $1 WHERE id IN (
			   SELECT id FROM refresh_families
			    WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL AND absolute_expires_at > $1
			    ORDER BY created_at DESC, id DESC OFFSET $4)`,
			f.CreatedAt.UnixMilli(), f.UserID, f.ID, maxLive-1); err != nil {
			return store.RefreshFamily{}, fmt.Errorf("postgres: create refresh family: revoke the oldest: %w", mapErr(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return store.RefreshFamily{}, fmt.Errorf("postgres: create refresh family: commit: %w", err)
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
		`INSERT INTO refresh_tokens (hash, family_id, created_at, idle_expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)`,
		hash, f.ID, now.UnixMilli(), idleExpiresAt.UnixMilli())
	return mapErr(err)
}

// RefreshFamilyByToken returns the family of the token with hash tokenHash,
// whatever the state of the token or family, or an error wrapping
// store.ErrNotFound.
func (s *Store) RefreshFamilyByToken(ctx context.Context, tokenHash string) (store.RefreshFamily, error) {
	row := s.db.QueryRowContext(ctx,
		`SELECT `+familyColumns+` FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = $1`, tokenHash)
	f, err := scanFamily(row)
	if err != nil {
		return store.RefreshFamily{}, fmt.Errorf("postgres: refresh family: %w", mapErr(err))
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
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.RefreshFamily{}, fmt.Errorf("postgres: rotate refresh token: %w", err)
	}
	defer func() {
		if err != nil {
			err = withRollback(err, tx)
		}
	}()
	// Lock the family first: a concurrent rotation of any of its tokens
	// waits here until this transaction ends, and its next statement (a new
	// snapshot under READ COMMITTED) then sees this one's writes.
	f, err := scanFamily(tx.QueryRowContext(ctx,
		`SELECT `+familyColumns+` FROM refresh_families f
		 WHERE f.id = (SELECT family_id FROM refresh_tokens WHERE hash = $1) FOR UPDATE`, oldHash))
	if err != nil {
		return store.RefreshFamily{}, fmt.Errorf("postgres: rotate refresh token: %w", mapErr(err))
	}
	var (
		idle int64
		used sql.NullInt64
	)
	if err := tx.QueryRowContext(ctx,
		`SELECT idle_expires_at, used_at FROM refresh_tokens WHERE hash = $1`, oldHash).Scan(&idle, &used); err != nil {
		return store.RefreshFamily{}, fmt.Errorf("postgres: rotate refresh token: %w", mapErr(err))
	}
	ms := now.UnixMilli()
	switch {
	case !f.RevokedAt.IsZero():
		return f, fmt.Errorf("postgres: rotate refresh token: %w", store.ErrRevoked)
	case used.Valid:
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, ms, f.ID); err != nil {
			return f, fmt.Errorf("postgres: rotate refresh token: revoke family: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return f, fmt.Errorf("postgres: rotate refresh token: commit: %w", err)
		}
		f.RevokedAt = fromMillis(ms)
		return f, fmt.Errorf("postgres: rotate refresh token: %w", store.ErrReused)
	case ms >= f.AbsoluteExpiresAt.UnixMilli() || ms >= idle:
		return f, fmt.Errorf("postgres: rotate refresh token: %w", store.ErrExpired)
	}
	// The family lock already excludes a concurrent redemption; the
	// condition on used_at keeps the update a compare-and-set regardless.
	res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL`, ms, oldHash)
	if err != nil {
		return f, fmt.Errorf("postgres: rotate refresh token: %w", err)
	}
	if err := requireOne(res); err != nil {
		return f, fmt.Errorf("postgres: rotate refresh token: %w", store.ErrStale)
	}
	if err := insertToken(ctx, tx, f, newHash, now, idleExpiresAt); err != nil {
		return f, fmt.Errorf("postgres: rotate refresh token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return f, fmt.Errorf("postgres: rotate refresh token: commit: %w", err)
	}
	return f, nil
}

// RevokeRefreshFamily revokes the family id at now. Revoking a revoked
// family keeps its first revocation time; an unknown id wraps
// store.ErrNotFound.
func (s *Store) RevokeRefreshFamily(ctx context.Context, id string, now time.Time) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`, now.UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("postgres: revoke refresh family: %w", err)
	}
	if err := requireOne(res); err != nil {
		return fmt.Errorf("postgres: revoke refresh family: %w", err)
	}
	return nil
}

// RevokeUserRefreshFamilies revokes every live family of the user id at
// now (a password reset or a disable) and returns how many it revoked.
func (s *Store) RevokeUserRefreshFamilies(ctx context.Context, userID string, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx,
		`UPDATE refresh_families SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`, now.UnixMilli(), userID)
	if err != nil {
		return 0, fmt.Errorf("postgres: revoke user refresh families: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("postgres: revoke user refresh families: %w", err)
	}
	return n, nil
}

// RevokeJTI records the access token jti as revoked until expiresAt (its
// exp plus the verifiers' leeway). Revoking it again keeps the later expiry.
func (s *Store) RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error {
	if jti == "" {
		return errors.New("postgres: revoke jti: empty jti")
	}
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, $2)
		 ON CONFLICT (jti) DO UPDATE SET expires_at = CASE WHEN excluded.expires_at > revoked_jtis.expires_at THEN excluded.expires_at ELSE revoked_jtis.expires_at END`,
		jti, expiresAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("postgres: revoke jti: %w", err)
	}
	return nil
}

// JTIRevoked reports whether the access token jti is revoked at now.
func (s *Store) JTIRevoked(ctx context.Context, jti string, now time.Time) (bool, error) {
	var revoked bool
	err := s.db.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM revoked_jtis WHERE jti = $1 AND expires_at > $2)`, jti, now.UnixMilli()).Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("postgres: jti revoked: %w", err)
	}
	return revoked, nil
}

// PurgeExpired deletes what can no longer matter at now: refresh-token
// families past their absolute expiry (with their tokens) and revoked jtis
// past their expiry, in one transaction. It returns how many rows it
// deleted.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (_ int64, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge expired: %w", err)
	}
	defer func() {
		if err != nil {
			err = withRollback(err, tx)
		}
	}()
	var total int64
	for _, q := range []string{
		`DELETE FROM refresh_families WHERE absolute_expires_at <= $1`,
		`DELETE FROM revoked_jtis WHERE expires_at <= $1`,
	} {
		res, err := tx.ExecContext(ctx, q, now.UnixMilli())
		if err != nil {
			return 0, fmt.Errorf("postgres: purge expired: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("postgres: purge expired: %w", err)
		}
		total += n
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("postgres: purge expired: commit: %w", err)
	}
	return total, nil
}
