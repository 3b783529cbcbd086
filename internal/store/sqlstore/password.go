package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// ChangePassword is an account holder's own password change (POST
// /password), in one transaction: it stores newHash and class only while
// the account id still has oldHash and epoch (what the request verified
// the current password and the access token against), raises the account
// epoch, revokes every refresh-token family of the account and clears its
// password-screening state (the new password was screened). It returns
// the account as changed. A changed hash or epoch (a concurrent reset,
// disable, change of scopes or another change) wraps store.ErrStale and
// changes nothing; an unknown id wraps store.ErrNotFound.
//
// All of it or none: a password changed while the old sessions live on, or
// sessions revoked while the old password stays, would each leave a thief
// what the change was meant to take away.
func (s *Store) ChangePassword(ctx context.Context, id string, epoch uint32, oldHash, newHash, class string, now time.Time) (store.User, error) {
	if newHash == "" || class == "" {
		return store.User{}, fmt.Errorf("%s: change password: empty hash or hash class", s.d.Name)
	}
	var u store.User
	err := s.inTx(ctx, "change password", func(tx *sql.Tx) error {
		err := s.swapUser(ctx, tx, id,
			`UPDATE users SET password_hash = ?, hash_class = ?, updated_at = ?, device_epoch = device_epoch + 1
			 WHERE id = ? AND password_hash = ? AND device_epoch = ?`,
			newHash, class, now.UnixMilli(), id, oldHash, epoch)
		if err != nil {
			return fmt.Errorf("%s: change password: %w", s.d.Name, err)
		}
		if _, err := s.revokeUserFamilies(ctx, tx, id, now); err != nil {
			return err
		}
		if err := s.setScreening(ctx, tx, id, store.Screening{}, now); err != nil {
			return err
		}
		if u, err = scanUser(tx.QueryRowContext(ctx, s.d.sql(`SELECT `+userColumns+` FROM users WHERE id = ?`), id)); err != nil {
			return fmt.Errorf("%s: change password: %w", s.d.Name, s.d.mapErr(err))
		}
		return nil
	})
	if err != nil {
		return store.User{}, err
	}
	return u, nil
}
