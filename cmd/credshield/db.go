package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/postgres"
	"github.com/credshield/credshield/internal/store/sqlite"
)

// accountStore is what the commands use of a store: all of it, as
// package store declares it once, so serve and the user commands work on
// either backend without knowing which.
type accountStore = store.Store

var (
	_ accountStore = (*sqlite.Store)(nil)
	_ accountStore = (*postgres.Store)(nil)
)

// openDB opens the store a --db value names (see config.ParseDB): "" is
// credshield.db in the data directory, created (0700) if needed;
// sqlite://PATH a SQLite file whose directory must exist; a postgres:// URL
// a PostgreSQL database, migrated on open. A malformed value is a usage
// error. Errors never quote dsn, which may carry a password.
func (e *env) openDB(ctx context.Context, dsn string) (accountStore, error) {
	target, err := config.ParseDB(dsn)
	if err != nil {
		return nil, usageError{err}
	}
	if target.Kind == config.DBPostgres {
		st, err := postgres.Open(ctx, target.DSN)
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		return st, nil
	}
	path := target.Path
	if path == "" {
		if err := os.MkdirAll(e.dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		path = filepath.Join(e.dataDir, "credshield.db")
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return st, nil
}

// openExistingStore opens the store --db names for a command that works
// on accounts already there (list, reset, disable, enable, scopes,
// delete): a SQLite database that does not exist is an error naming its
// path, never a new empty one, so a mistyped --data-dir is reported
// instead of answered with "no accounts".
func (e *env) openExistingStore(ctx context.Context) (accountStore, error) {
	target, err := config.ParseDB(e.db)
	if err != nil {
		return nil, usageError{err}
	}
	if target.Kind == config.DBSQLite {
		path := target.Path
		if path == "" {
			path = filepath.Join(e.dataDir, "credshield.db")
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no database at %s: check --data-dir or --db (credshield serve or user add creates one): %w", path, err)
		}
	}
	return e.openDB(ctx, e.db)
}
