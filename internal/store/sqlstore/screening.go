package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// Password screening and the breach filter record (migration 00007).

// PasswordScreening returns the screening state of the account id (the
// zero state when it has none, whether or not the account exists).
func (s *Store) PasswordScreening(ctx context.Context, id string) (store.Screening, error) {
	var sc store.Screening
	err := s.r.QueryRowContext(ctx,
		s.d.sql(`SELECT pending, change_required FROM password_screening WHERE user_id = ?`), id).
		Scan(&sc.Pending, &sc.ChangeRequired)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Screening{}, nil
	}
	if err != nil {
		return store.Screening{}, fmt.Errorf("%s: password screening: %w", s.d.Name, err)
	}
	return sc, nil
}

// SetPasswordScreening stores the screening state of the account id. A
// reset or a password change stores the zero state: the new password was
// screened when it was set.
func (s *Store) SetPasswordScreening(ctx context.Context, id string, sc store.Screening, now time.Time) error {
	return s.setScreening(ctx, s.w, id, sc, now)
}

// setScreening stores sc for the account id through db (CreateUsers passes
// its transaction, so an import and its marks are stored together or not at
// all); the zero state deletes the account's row.
func (s *Store) setScreening(ctx context.Context, db execer, id string, sc store.Screening, now time.Time) error {
	var err error
	if sc == (store.Screening{}) {
		_, err = db.ExecContext(ctx, s.d.sql(`DELETE FROM password_screening WHERE user_id = ?`), id)
	} else {
		_, err = db.ExecContext(ctx,
			s.d.sql(`INSERT INTO password_screening (user_id, pending, change_required, updated_at) VALUES (?, ?, ?, ?)
			 ON CONFLICT (user_id) DO UPDATE SET pending = excluded.pending,
			     change_required = excluded.change_required, updated_at = excluded.updated_at`),
			id, sc.Pending, sc.ChangeRequired, now.UnixMilli())
	}
	if err != nil {
		return fmt.Errorf("%s: set password screening: %w", s.d.Name, err)
	}
	return nil
}

// BreachFilter returns the record of the breach filter last imported, or
// an error wrapping store.ErrNotFound when none was.
func (s *Store) BreachFilter(ctx context.Context) (store.BreachFilter, error) {
	var f store.BreachFilter
	var entries, minCount, at int64
	err := s.r.QueryRowContext(ctx, `SELECT digest, entries, min_count, imported_at FROM breach_filter WHERE id = 1`).
		Scan(&f.Digest, &entries, &minCount, &at)
	if err != nil {
		return store.BreachFilter{}, fmt.Errorf("%s: breach filter: %w", s.d.Name, s.d.mapErr(err))
	}
	f.Entries, f.MinCount, f.ImportedAt = uint64(entries), uint64(minCount), fromMillis(at)
	return f, nil
}

// SetBreachFilter records f as the filter last imported, replacing any
// earlier record.
func (s *Store) SetBreachFilter(ctx context.Context, f store.BreachFilter) error {
	if f.Digest == "" {
		return fmt.Errorf("%s: set breach filter: empty digest", s.d.Name)
	}
	_, err := s.w.ExecContext(ctx,
		s.d.sql(`INSERT INTO breach_filter (id, digest, entries, min_count, imported_at) VALUES (1, ?, ?, ?, ?)
		 ON CONFLICT (id) DO UPDATE SET digest = excluded.digest, entries = excluded.entries,
		     min_count = excluded.min_count, imported_at = excluded.imported_at`),
		f.Digest, int64(f.Entries), int64(f.MinCount), f.ImportedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("%s: set breach filter: %w", s.d.Name, err)
	}
	return nil
}
