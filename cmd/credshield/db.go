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
