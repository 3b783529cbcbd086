package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
)

// DeleteUser removes the account with the given username and everything
// kept for it, in one transaction: its refresh-token families and their
// tokens (ON DELETE CASCADE from users, migration 00003) and its pending
// password screening (deleted first: that reference does not cascade). Its
// access tokens stop working at /users/me and /verify, which look the
// account up, and its device credentials with it. An unknown username
// wraps store.ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, username string) error {
	return s.inTx(ctx, "delete user", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.sql(`DELETE FROM password_screening WHERE user_id IN (SELECT id FROM users WHERE username = ?)`), username); err != nil {
			return fmt.Errorf("%s: delete user: %w", s.d.Name, s.d.mapErr(err))
		}
		res, err := tx.ExecContext(ctx, s.d.sql(`DELETE FROM users WHERE username = ?`), username)
		if err == nil {
			err = requireOne(res)
		}
		if err != nil {
			return fmt.Errorf("%s: delete user: %w", s.d.Name, err)
		}
		return nil
	})
}
