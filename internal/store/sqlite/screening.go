package sqlite

import (
	"context"
	"time"

	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/screeningsql"
)

// Password screening and the breach filter record (migration 00007), in
// the SQL both stores share (screeningsql).

var screeningDialect = screeningsql.Dialect{Name: "sqlite", Numbered: false}

// PasswordScreening returns the screening state of the account id (the
// zero state when it has none, whether or not the account exists).
func (s *Store) PasswordScreening(ctx context.Context, id string) (store.Screening, error) {
	return screeningDialect.Screening(ctx, s.ro, id)
}

// SetPasswordScreening stores the screening state of the account id. A
// reset or a password change stores the zero state: the new password was
// screened when it was set.
func (s *Store) SetPasswordScreening(ctx context.Context, id string, sc store.Screening, now time.Time) error {
	return screeningDialect.SetScreening(ctx, s.rw, id, sc, now)
}

// BreachFilter returns the record of the breach filter last imported, or
// an error wrapping store.ErrNotFound.
func (s *Store) BreachFilter(ctx context.Context) (store.BreachFilter, error) {
	return screeningDialect.BreachFilter(ctx, s.ro)
}

// SetBreachFilter records the breach filter just imported.
func (s *Store) SetBreachFilter(ctx context.Context, f store.BreachFilter) error {
	return screeningDialect.SetBreachFilter(ctx, s.rw, f)
}
