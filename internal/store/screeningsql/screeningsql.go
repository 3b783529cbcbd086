// Package screeningsql is the SQL of the password_screening and
// breach_filter tables (migration 00007) that store/sqlite and
// store/postgres share: the same statements over database/sql, written
// once. A store passes its Dialect.
package screeningsql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/sealedsql"
)

// Dialect is what differs between the two stores' SQL.
type Dialect struct {
	// Name prefixes errors ("sqlite", "postgres").
	Name string
	// Numbered selects $1, $2 ... placeholders (PostgreSQL) over ?.
	Numbered bool
}

// Querier reads and Execer writes: a pool or a transaction, as for the
// sealed tables.
type (
	Querier = sealedsql.Querier
	Execer  = sealedsql.Execer
)

func (d Dialect) p(i int) string {
	if d.Numbered {
		return "$" + strconv.Itoa(i)
	}
	return "?"
}

// MarkUnscreened records that the account id has a password nobody
// screened. CreateUsers calls it inside its transaction, so an import and
// its marks are stored together or not at all.
func (d Dialect) MarkUnscreened(ctx context.Context, db Execer, id string, now time.Time) error {
	return d.SetScreening(ctx, db, id, store.Screening{Pending: true}, now)
}

// Screening returns the screening state of the account id; an account
// without a row has the zero state.
func (d Dialect) Screening(ctx context.Context, db Querier, id string) (store.Screening, error) {
	var sc store.Screening
	err := db.QueryRowContext(ctx,
		`SELECT pending, change_required FROM password_screening WHERE user_id = `+d.p(1), id).
		Scan(&sc.Pending, &sc.ChangeRequired)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Screening{}, nil
	}
	if err != nil {
		return store.Screening{}, fmt.Errorf("%s: password screening: %w", d.Name, err)
	}
	return sc, nil
}

// SetScreening stores the screening state of the account id; the zero
// state deletes its row.
func (d Dialect) SetScreening(ctx context.Context, db Execer, id string, sc store.Screening, now time.Time) error {
	var err error
	if sc == (store.Screening{}) {
		_, err = db.ExecContext(ctx, `DELETE FROM password_screening WHERE user_id = `+d.p(1), id)
	} else {
		_, err = db.ExecContext(ctx,
			`INSERT INTO password_screening (user_id, pending, change_required, updated_at) VALUES (`+
				d.p(1)+`, `+d.p(2)+`, `+d.p(3)+`, `+d.p(4)+`)
			 ON CONFLICT (user_id) DO UPDATE SET pending = excluded.pending,
			     change_required = excluded.change_required, updated_at = excluded.updated_at`,
			id, sc.Pending, sc.ChangeRequired, now.UnixMilli())
	}
	if err != nil {
		return fmt.Errorf("%s: set password screening: %w", d.Name, err)
	}
	return nil
}

// BreachFilter returns the record of the filter last imported, or an error
// wrapping store.ErrNotFound when none was.
func (d Dialect) BreachFilter(ctx context.Context, db Querier) (store.BreachFilter, error) {
	var f store.BreachFilter
	var entries, minCount, at int64
	err := db.QueryRowContext(ctx, `SELECT digest, entries, min_count, imported_at FROM breach_filter WHERE id = 1`).
		Scan(&f.Digest, &entries, &minCount, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return store.BreachFilter{}, fmt.Errorf("%s: breach filter: %w", d.Name, store.ErrNotFound)
	}
	if err != nil {
		return store.BreachFilter{}, fmt.Errorf("%s: breach filter: %w", d.Name, err)
	}
	f.Entries, f.MinCount, f.ImportedAt = uint64(entries), uint64(minCount), time.UnixMilli(at).UTC()
	return f, nil
}

// SetBreachFilter records f as the filter last imported, replacing any
// earlier record.
func (d Dialect) SetBreachFilter(ctx context.Context, db Execer, f store.BreachFilter) error {
	if f.Digest == "" {
		return fmt.Errorf("%s: set breach filter: empty digest", d.Name)
	}
	_, err := db.ExecContext(ctx,
		`INSERT INTO breach_filter (id, digest, entries, min_count, imported_at) VALUES (1, `+
			d.p(1)+`, `+d.p(2)+`, `+d.p(3)+`, `+d.p(4)+`)
		 ON CONFLICT (id) DO UPDATE SET digest = excluded.digest, entries = excluded.entries,
		     min_count = excluded.min_count, imported_at = excluded.imported_at`,
		f.Digest, int64(f.Entries), int64(f.MinCount), f.ImportedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("%s: set breach filter: %w", d.Name, err)
	}
	return nil
}
