package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// Accounts (migrations 00001, 00002, 00006): created_at and updated_at are
// unix milliseconds, so times come back in UTC truncated to the
// millisecond, and CreateUser returns what a later read returns.

const userColumns = `id, username, password_hash, hash_class, disabled, created_at, updated_at, device_epoch, scopes`

const insertUser = `INSERT INTO users (` + userColumns + `) VALUES (?, ?, ?, ?, FALSE, ?, ?, 0, '')`

// CreateUser stores a new, enabled account under a fresh random ID and
// returns it. It returns an error wrapping store.ErrConflict when the
// username is taken.
func (s *Store) CreateUser(ctx context.Context, u store.NewUser, now time.Time) (store.User, error) {
	if err := validate(u); err != nil {
		return store.User{}, fmt.Errorf("%s: create user: %w", s.d.Name, err)
	}
	id, err := newID()
	if err != nil {
		return store.User{}, fmt.Errorf("%s: create user: %w", s.d.Name, err)
	}
	ms := now.UnixMilli()
	if _, err := s.w.ExecContext(ctx, s.d.sql(insertUser), id, u.Username, u.PasswordHash, u.HashClass, ms, ms); err != nil {
		return store.User{}, fmt.Errorf("%s: create user: %w", s.d.Name, s.d.mapErr(err))
	}
	return store.User{
		ID:           id,
		Username:     u.Username,
		PasswordHash: u.PasswordHash,
		HashClass:    u.HashClass,
		CreatedAt:    fromMillis(ms),
		UpdatedAt:    fromMillis(ms),
	}, nil
}

// CreateUsers stores every account in us, each under a fresh random ID, in
// one transaction: either all are stored or none is, and an entry marked
// Unscreened is stored with its pending screening in the same transaction.
// A failing entry is reported as a *store.BatchError. It is meant for bulk
// import.
func (s *Store) CreateUsers(ctx context.Context, us []store.NewUser, now time.Time) error {
	if len(us) == 0 {
		return nil
	}
	for i, u := range us {
		if err := validate(u); err != nil {
			return &store.BatchError{Index: i, Username: u.Username, Err: err}
		}
	}
	return s.inTx(ctx, "create users", func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.d.sql(insertUser))
		if err != nil {
			return fmt.Errorf("%s: create users: %w", s.d.Name, err)
		}
		defer stmt.Close()
		ms := now.UnixMilli()
		for i, u := range us {
			id, err := newID()
			if err != nil {
				return fmt.Errorf("%s: create users: %w", s.d.Name, err)
			}
			if _, err := stmt.ExecContext(ctx, id, u.Username, u.PasswordHash, u.HashClass, ms, ms); err != nil {
				return &store.BatchError{Index: i, Username: u.Username, Err: s.d.mapErr(err)}
			}
			if u.Unscreened {
				if err := s.setScreening(ctx, tx, id, store.Screening{Pending: true}, now); err != nil {
					return &store.BatchError{Index: i, Username: u.Username, Err: err}
				}
			}
		}
		return nil
	})
}

// UserByName returns the account with the given (normalised) username, or
// an error wrapping store.ErrNotFound.
func (s *Store) UserByName(ctx context.Context, username string) (store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, s.d.sql(`SELECT `+userColumns+` FROM users WHERE username = ?`), username))
	if err != nil {
		return store.User{}, fmt.Errorf("%s: user by name: %w", s.d.Name, s.d.mapErr(err))
	}
	return u, nil
}

// UserByID returns the account with the given ID (a token's sub claim), or
// an error wrapping store.ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, s.d.sql(`SELECT `+userColumns+` FROM users WHERE id = ?`), id))
	if err != nil {
		return store.User{}, fmt.Errorf("%s: user by id: %w", s.d.Name, s.d.mapErr(err))
	}
	return u, nil
}

// ListUsers returns every account ordered by username, bytewise in both
// databases whatever their collation (empty, not nil, when there are
// none). It loads all rows into memory, which suits the administration
// CLI, not a request path.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	users, err := collect(ctx, s.r, `SELECT `+userColumns+` FROM users ORDER BY username`+s.d.Bytewise, scanUser)
	if err != nil {
		return nil, fmt.Errorf("%s: list users: %w", s.d.Name, err)
	}
	return users, nil
}

// SetDisabled disables or re-enables the account with the given username,
// or returns an error wrapping store.ErrNotFound. Both raise the account
// epoch, so no device credential or access token issued before survives
// the change (see store.User.DeviceEpoch), and revoke the account's
// refresh-token families, in one transaction; it returns how many it
// revoked.
func (s *Store) SetDisabled(ctx context.Context, username string, disabled bool, now time.Time) (int64, error) {
	return s.updateUser(ctx, "set disabled", username, now, s.revokeUserFamilies, `disabled = ?`, disabled)
}

// SetScopes replaces the scopes granted to the account with the given
// username (space-delimited, already validated) and raises its account
// epoch, so access tokens issued under the old grants stop working; or
// returns an error wrapping store.ErrNotFound. The account's live
// refresh-token families move to the new epoch in the same transaction:
// its sessions continue, and each refresh carries only the scopes still
// granted.
func (s *Store) SetScopes(ctx context.Context, username, scopes string, now time.Time) error {
	_, err := s.updateUser(ctx, "set scopes", username, now, s.keepSessions, `scopes = ?`, scopes)
	return err
}

// SetPassword replaces the hash of the account with the given username
// unconditionally (an administrator's reset) and, in one transaction,
// raises its account epoch (revoking its device credentials and access
// tokens), revokes its refresh-token families and clears its
// password-screening state (the new password was screened); it returns
// how many families it revoked, or an error wrapping store.ErrNotFound. A
// concurrent ReplaceHash of the old hash, in this process or another,
// then fails with store.ErrStale, so the reset wins.
func (s *Store) SetPassword(ctx context.Context, username, hash, class string, now time.Time) (int64, error) {
	if hash == "" || class == "" {
		return 0, fmt.Errorf("%s: set password: empty hash or hash class", s.d.Name)
	}
	return s.updateUser(ctx, "set password", username, now, func(ctx context.Context, tx execer, id string, now time.Time) (int64, error) {
		n, err := s.revokeUserFamilies(ctx, tx, id, now)
		if err != nil {
			return 0, err
		}
		return n, s.setScreening(ctx, tx, id, store.Screening{}, now)
	}, `password_hash = ?, hash_class = ?`, hash, class)
}

// keepSessions moves the live refresh-token families of the account id in
// tx to its current epoch: a change that must not end its sessions.
func (s *Store) keepSessions(ctx context.Context, tx execer, id string, _ time.Time) (int64, error) {
	_, err := tx.ExecContext(ctx, s.d.sql(
		`UPDATE refresh_families SET account_epoch = (SELECT device_epoch FROM users WHERE id = ?)
		  WHERE user_id = ? AND revoked_at IS NULL`), id, id)
	if err != nil {
		return 0, fmt.Errorf("%s: move refresh families to the account epoch: %w", s.d.Name, err)
	}
	return 0, nil
}

// updateUser sets the columns of the account username that set names
// ("column = ?, ..." bound to values), with updated_at, and raises its
// account epoch; then, in the same transaction, runs then on the account's
// ID (what the change does to its sessions) and returns its count. An
// unknown username wraps store.ErrNotFound.
func (s *Store) updateUser(ctx context.Context, what, username string, now time.Time,
	then func(ctx context.Context, tx execer, id string, now time.Time) (int64, error), set string, values ...any) (int64, error) {
	var n int64
	err := s.inTx(ctx, what, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			s.d.sql(`UPDATE users SET `+set+`, updated_at = ?, device_epoch = device_epoch + 1 WHERE username = ?`),
			append(values, now.UnixMilli(), username)...)
		if err == nil {
			err = requireOne(res)
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", s.d.Name, what, err)
		}
		var id string
		if err := tx.QueryRowContext(ctx, s.d.sql(`SELECT id FROM users WHERE username = ?`), username).Scan(&id); err != nil {
			return fmt.Errorf("%s: %s: %w", s.d.Name, what, s.d.mapErr(err))
		}
		n, err = then(ctx, tx, id, now)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ReplaceHash is the compare-and-swap a login uses to upgrade an imported or
// outdated hash after verifying the password: it stores newHash and class
// only while the account's hash still equals oldHash. Otherwise it returns
// an error wrapping store.ErrStale (the hash changed since the login read it,
// for example by a reset on any replica, which must win), or
// store.ErrNotFound when no account has that ID.
//
// The conditional UPDATE is the compare-and-swap in both databases (SQLite
// holds the write lock; PostgreSQL re-checks the WHERE clause against a row
// a concurrent writer committed); the existence check that tells a missing
// account from a changed hash runs in the same transaction.
func (s *Store) ReplaceHash(ctx context.Context, id, oldHash, newHash, class string, now time.Time) error {
	if newHash == "" || class == "" {
		return fmt.Errorf("%s: replace hash: empty hash or hash class", s.d.Name)
	}
	return s.inTx(ctx, "replace hash", func(tx *sql.Tx) error {
		err := s.swapUser(ctx, tx, id,
			`UPDATE users SET password_hash = ?, hash_class = ?, updated_at = ? WHERE id = ? AND password_hash = ?`,
			newHash, class, now.UnixMilli(), id, oldHash)
		if err != nil {
			return fmt.Errorf("%s: replace hash: %w", s.d.Name, err)
		}
		return nil
	})
}

// swapUser runs update, a conditional UPDATE of the one account id, in
// tx: the compare-and-swap of ReplaceHash and ChangePassword. When it
// matches no row it tells a missing account (store.ErrNotFound) from one
// that changed (store.ErrStale).
func (s *Store) swapUser(ctx context.Context, tx *sql.Tx, id, update string, args ...any) error {
	res, err := tx.ExecContext(ctx, s.d.sql(update), args...)
	if err == nil {
		err = requireOne(res)
	}
	if errors.Is(err, store.ErrNotFound) {
		err = s.staleOrMissing(ctx, tx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)`, id)
	}
	return err
}

// staleOrMissing tells why a compare-and-swap matched no row: exists (a
// query with one placeholder, arg) finds the row, so it changed
// (store.ErrStale), or not (store.ErrNotFound).
func (s *Store) staleOrMissing(ctx context.Context, q querier, exists string, arg any) error {
	var found bool
	if err := q.QueryRowContext(ctx, s.d.sql(exists), arg).Scan(&found); err != nil {
		return err
	}
	if !found {
		return store.ErrNotFound
	}
	return store.ErrStale
}

// HashClasses returns the distinct hash classes stored, sorted bytewise, so
// the server can size its failure-timing floor to the slowest scheme it
// must verify without reading every hash.
func (s *Store) HashClasses(ctx context.Context) ([]string, error) {
	classes, err := collect(ctx, s.r, `SELECT DISTINCT hash_class`+s.d.Bytewise+` AS c FROM users ORDER BY c`,
		func(r scanner) (c string, err error) { return c, r.Scan(&c) })
	if err != nil {
		return nil, fmt.Errorf("%s: hash classes: %w", s.d.Name, err)
	}
	return classes, nil
}

// collect runs query (no arguments) and scans every row with scan; the
// result is empty, not nil, when there is none.
func collect[T any](ctx context.Context, q querier, query string, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// validate rejects what the schema's CHECK constraints would, with a clearer
// message. It never echoes the hash.
func validate(u store.NewUser) error {
	switch {
	case u.Username == "":
		return errors.New("empty username")
	case u.PasswordHash == "":
		return errors.New("empty password hash")
	case u.HashClass == "":
		return errors.New("empty hash class")
	}
	return nil
}

func scanUser(r scanner) (store.User, error) {
	var (
		u                store.User
		created, updated int64
	)
	if err := r.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.HashClass, &u.Disabled, &created, &updated, &u.DeviceEpoch, &u.Scopes); err != nil {
		return store.User{}, err
	}
	u.CreatedAt = fromMillis(created)
	u.UpdatedAt = fromMillis(updated)
	return u, nil
}
