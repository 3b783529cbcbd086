package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/postgres"
	"github.com/credshield/credshield/internal/store/sqlite"
)

// accountStore is what the commands use of a store: the method set
// *sqlite.Store and *postgres.Store share, so serve and the user commands
// work on either backend without knowing which.
type accountStore interface {
	Close() error
	Ping(ctx context.Context) error

	CreateUser(ctx context.Context, u store.NewUser, now time.Time) (store.User, error)
	CreateUsers(ctx context.Context, us []store.NewUser, now time.Time) error
	UserByName(ctx context.Context, username string) (store.User, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	SetDisabled(ctx context.Context, username string, disabled bool, now time.Time) error
	SetPassword(ctx context.Context, username, hash, class string, now time.Time) error
	SetScopes(ctx context.Context, username, scopes string, now time.Time) error
	ReplaceHash(ctx context.Context, id, oldHash, newHash, class string, now time.Time) error
	HashClasses(ctx context.Context) ([]string, error)

	CreateRefreshFamily(ctx context.Context, f store.RefreshFamily, tokenHash string, idleExpiresAt time.Time, maxLive int) (store.RefreshFamily, error)
	RefreshFamilyByToken(ctx context.Context, tokenHash string) (store.RefreshFamily, error)
	RotateRefreshToken(ctx context.Context, oldHash, newHash string, now, idleExpiresAt time.Time) (store.RefreshFamily, error)
	RevokeRefreshFamily(ctx context.Context, id string, now time.Time) error
	RevokeUserRefreshFamilies(ctx context.Context, userID string, now time.Time) (int64, error)
	RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error
	JTIRevoked(ctx context.Context, jti string, now time.Time) (bool, error)
	PurgeExpired(ctx context.Context, now time.Time) (int64, error)

	sealedStore    // signing keys and HMAC secrets, sealed (see sealed.go)
	screeningStore // password screening, breach filter record (see passwords.go)
}

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
