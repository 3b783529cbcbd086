package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// Refresh tokens (migrations 00003, 00008) are stored by hash (the caller's
// SHA-256, hex): the database never holds a token that could be redeemed.
// Families and tokens are written in transactions; rotation locks the
// family before it reads the token (SQLite: the transaction's write lock;
// PostgreSQL: SELECT ... FOR UPDATE), so concurrent redemptions of one
// token, on any number of processes or replicas, are serialised: one
// rotates, the rest see reuse.

const familyColumns = `f.id, f.user_id, f.client_id, f.scope, f.jkt, f.account_epoch, f.created_at, f.absolute_expires_at, f.revoked_at`

func scanFamily(r scanner) (store.RefreshFamily, error) {
	var (
		f                 store.RefreshFamily
		created, absolute int64
		revoked           sql.NullInt64
	)
	if err := r.Scan(&f.ID, &f.UserID, &f.ClientID, &f.Scope, &f.JKT, &f.AccountEpoch, &created, &absolute, &revoked); err != nil {
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
// The family is stored only while the account's epoch is still
// f.AccountEpoch (the one the login read): a change, reset or disable
// that committed since, and revoked the account's families, would
// otherwise miss this one. A moved epoch wraps store.ErrStale, an unknown
// user store.ErrNotFound; nothing is stored then.
//
// When maxLive is positive, the user's live families (not revoked, not
// expired at f.CreatedAt) beyond the maxLive newest, the new one included,
// are revoked at f.CreatedAt in the same transaction: every login starts a
// family, and a holder looping logins must not grow the table without
// bound. The oldest go first, since the newest are the sessions in use.
func (s *Store) CreateRefreshFamily(ctx context.Context, f store.RefreshFamily, tokenHash string, idleExpiresAt time.Time, maxLive int) (store.RefreshFamily, error) {
	const what = "create refresh family"
	if f.UserID == "" || f.AbsoluteExpiresAt.IsZero() {
		return store.RefreshFamily{}, fmt.Errorf("%s: %s: user and expiry are required", s.d.Name, what)
	}
	var err error
	if f.ID, err = newID(); err != nil {
		return store.RefreshFamily{}, fmt.Errorf("%s: %s: %w", s.d.Name, what, err)
	}
	f.CreatedAt = f.CreatedAt.Truncate(time.Millisecond).UTC()
	f.AbsoluteExpiresAt = f.AbsoluteExpiresAt.Truncate(time.Millisecond).UTC()
	f.RevokedAt = time.Time{}
	err = s.inTx(ctx, what, func(tx *sql.Tx) error {
		// The user's row is the lock (SQLite: the transaction's write
		// lock): a change of the epoch waits for this family or this
		// waits for it and sees the new epoch; and two logins of one user
		// at once must not both count the other's family out and leave
		// more than maxLive live.
		var epoch uint32
		if err := tx.QueryRowContext(ctx, s.d.sql(`SELECT device_epoch FROM users WHERE id = ?`+s.d.ForUpdate), f.UserID).Scan(&epoch); err != nil {
			return fmt.Errorf("%s: %s: lock user: %w", s.d.Name, what, s.d.mapErr(err))
		}
		if epoch != f.AccountEpoch {
			return fmt.Errorf("%s: %s: account epoch moved: %w", s.d.Name, what, store.ErrStale)
		}
		if _, err := tx.ExecContext(ctx,
			s.d.sql(`INSERT INTO refresh_families (id, user_id, client_id, scope, jkt, account_epoch, created_at, absolute_expires_at, revoked_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`),
			f.ID, f.UserID, f.ClientID, f.Scope, f.JKT, f.AccountEpoch, f.CreatedAt.UnixMilli(), f.AbsoluteExpiresAt.UnixMilli()); err != nil {
			return fmt.Errorf("%s: %s: %w", s.d.Name, what, s.d.mapErr(err))
		}
		if err := s.insertToken(ctx, tx, f, tokenHash, f.CreatedAt, idleExpiresAt); err != nil {
			return fmt.Errorf("%s: %s: %w", s.d.Name, what, err)
		}
		if maxLive > 0 {
			ms := f.CreatedAt.UnixMilli()
			if _, err := tx.ExecContext(ctx,
				s.d.sql(`UPDATE refresh_families SET revoked_at = ? WHERE id IN (
				   SELECT id FROM refresh_families
				    WHERE user_id = ? AND id <> ? AND revoked_at IS NULL AND absolute_expires_at > ?
				    ORDER BY created_at DESC, id DESC `+s.d.Unlimited+` OFFSET ?)`),
				ms, f.UserID, f.ID, ms, maxLive-1); err != nil {
				return fmt.Errorf("%s: %s: revoke the oldest: %w", s.d.Name, what, s.d.mapErr(err))
			}
		}
		return nil
	})
	if err != nil {
		return store.RefreshFamily{}, err
	}
	return f, nil
}

// insertToken adds a token to family f; its idle expiry never passes the
// family's absolute one.
func (s *Store) insertToken(ctx context.Context, tx *sql.Tx, f store.RefreshFamily, hash string, now, idleExpiresAt time.Time) error {
	if idleExpiresAt.After(f.AbsoluteExpiresAt) {
		idleExpiresAt = f.AbsoluteExpiresAt
	}
	_, err := tx.ExecContext(ctx,
		s.d.sql(`INSERT INTO refresh_tokens (hash, family_id, created_at, idle_expires_at, used_at) VALUES (?, ?, ?, ?, NULL)`),
		hash, f.ID, now.UnixMilli(), idleExpiresAt.UnixMilli())
	if err != nil {
		return s.d.mapErr(err)
	}
	return nil
}

// RefreshFamilyByToken returns the family of the token with hash tokenHash,
// whatever the state of the token or family, or an error wrapping
// store.ErrNotFound.
func (s *Store) RefreshFamilyByToken(ctx context.Context, tokenHash string) (store.RefreshFamily, error) {
	f, err := scanFamily(s.r.QueryRowContext(ctx,
		s.d.sql(`SELECT `+familyColumns+` FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = ?`), tokenHash))
	if err != nil {
		return store.RefreshFamily{}, fmt.Errorf("%s: refresh family: %w", s.d.Name, s.d.mapErr(err))
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
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash, newHash string, now, idleExpiresAt time.Time) (store.RefreshFamily, error) {
	const what = "rotate refresh token"
	var (
		f      store.RefreshFamily
		reused bool
	)
	err := s.inTx(ctx, what, func(tx *sql.Tx) error {
		// Lock the family first: a concurrent rotation of any of its
		// tokens waits until this transaction ends, and its next statement
		// (a new snapshot under PostgreSQL's READ COMMITTED) then sees
		// this one's writes.
		var err error
		f, err = scanFamily(tx.QueryRowContext(ctx,
			s.d.sql(`SELECT `+familyColumns+` FROM refresh_families f
			 WHERE f.id = (SELECT family_id FROM refresh_tokens WHERE hash = ?)`+s.d.ForUpdate), oldHash))
		if err != nil {
			return fmt.Errorf("%s: %s: %w", s.d.Name, what, s.d.mapErr(err))
		}
		var (
			idle int64
			used sql.NullInt64
		)
		if err := tx.QueryRowContext(ctx,
			s.d.sql(`SELECT idle_expires_at, used_at FROM refresh_tokens WHERE hash = ?`), oldHash).Scan(&idle, &used); err != nil {
			return fmt.Errorf("%s: %s: %w", s.d.Name, what, s.d.mapErr(err))
		}
		ms := now.UnixMilli()
		switch {
		case !f.RevokedAt.IsZero():
			return fmt.Errorf("%s: %s: %w", s.d.Name, what, store.ErrRevoked)
		case used.Valid:
			// Reuse: the revocation commits, and the caller hears of the
			// reuse after.
			if _, err := tx.ExecContext(ctx, s.d.sql(`UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), ms, f.ID); err != nil {
				return fmt.Errorf("%s: %s: revoke family: %w", s.d.Name, what, err)
			}
			f.RevokedAt = fromMillis(ms)
			reused = true
			return nil
		case ms >= f.AbsoluteExpiresAt.UnixMilli() || ms >= idle:
			return fmt.Errorf("%s: %s: %w", s.d.Name, what, store.ErrExpired)
		}
		// The family lock already excludes a concurrent redemption; the
		// condition on used_at keeps the update a compare-and-set
		// regardless.
		res, err := tx.ExecContext(ctx, s.d.sql(`UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL`), ms, oldHash)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", s.d.Name, what, err)
		}
		if err := requireOne(res); err != nil {
			return fmt.Errorf("%s: %s: %w", s.d.Name, what, store.ErrStale)
		}
		if err := s.insertToken(ctx, tx, f, newHash, now, idleExpiresAt); err != nil {
			return fmt.Errorf("%s: %s: %w", s.d.Name, what, err)
		}
		return nil
	})
	switch {
	case err != nil:
		if f.ID == "" {
			return store.RefreshFamily{}, err
		}
		return f, err
	case reused:
		return f, fmt.Errorf("%s: %s: %w", s.d.Name, what, store.ErrReused)
	}
	return f, nil
}

// RevokeRefreshFamily revokes the family id at now. Revoking a revoked
// family keeps its first revocation time; an unknown id wraps
// store.ErrNotFound.
func (s *Store) RevokeRefreshFamily(ctx context.Context, id string, now time.Time) error {
	res, err := s.w.ExecContext(ctx,
		s.d.sql(`UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`), now.UnixMilli(), id)
	if err == nil {
		err = requireOne(res)
	}
	if err != nil {
		return fmt.Errorf("%s: revoke refresh family: %w", s.d.Name, err)
	}
	return nil
}

// RevokeUserRefreshFamilies revokes every live family of the user id at
// now and returns how many it revoked. (A reset or a disable revokes them
// itself, in its own transaction: SetPassword, SetDisabled.)
func (s *Store) RevokeUserRefreshFamilies(ctx context.Context, userID string, now time.Time) (int64, error) {
	return s.revokeUserFamilies(ctx, s.w, userID, now)
}

// revokeUserFamilies is RevokeUserRefreshFamilies through db
// (ChangePassword, SetPassword and SetDisabled pass their transaction).
func (s *Store) revokeUserFamilies(ctx context.Context, db execer, userID string, now time.Time) (int64, error) {
	n, err := affected(db.ExecContext(ctx,
		s.d.sql(`UPDATE refresh_families SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`), now.UnixMilli(), userID))
	if err != nil {
		return 0, fmt.Errorf("%s: revoke user refresh families: %w", s.d.Name, err)
	}
	return n, nil
}

// RevokeJTI records the access token jti as revoked until expiresAt (its
// exp plus the verifiers' leeway). Revoking it again keeps the later expiry.
func (s *Store) RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error {
	if jti == "" {
		return fmt.Errorf("%s: revoke jti: empty jti", s.d.Name)
	}
	_, err := s.w.ExecContext(ctx,
		s.d.sql(`INSERT INTO revoked_jtis (jti, expires_at) VALUES (?, ?)
		 ON CONFLICT (jti) DO UPDATE SET expires_at = CASE WHEN excluded.expires_at > revoked_jtis.expires_at THEN excluded.expires_at ELSE revoked_jtis.expires_at END`),
		jti, expiresAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("%s: revoke jti: %w", s.d.Name, err)
	}
	return nil
}

// JTIRevoked reports whether the access token jti is revoked at now.
func (s *Store) JTIRevoked(ctx context.Context, jti string, now time.Time) (bool, error) {
	var revoked bool
	err := s.r.QueryRowContext(ctx,
		s.d.sql(`SELECT EXISTS (SELECT 1 FROM revoked_jtis WHERE jti = ? AND expires_at > ?)`), jti, now.UnixMilli()).Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("%s: jti revoked: %w", s.d.Name, err)
	}
	return revoked, nil
}

// PurgeExpired deletes what can no longer matter at now: refresh-token
// families past their absolute expiry (with their tokens) and revoked jtis
// past their expiry, in one transaction. It returns how many rows it
// deleted.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	err := s.inTx(ctx, "purge expired", func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM refresh_families WHERE absolute_expires_at <= ?`,
			`DELETE FROM revoked_jtis WHERE expires_at <= ?`,
		} {
			n, err := affected(tx.ExecContext(ctx, s.d.sql(q), now.UnixMilli()))
			if err != nil {
				return fmt.Errorf("%s: purge expired: %w", s.d.Name, err)
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}

// affected returns how many rows the statement that returned res, err
// changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
