// Package storetest is the test suite every credshield store backend must
// pass, so SQLite and PostgreSQL answer alike: the same records, the same
// sentinel errors, the same compare-and-swap and all-or-nothing semantics.
// A backend's own tests call Run with a function that opens a fresh, empty
// store; tests of what only one backend has (file modes, pragmas, pools)
// stay beside that backend.
//
// It also provides PostgresDSN, which gives each test its own schema in the
// PostgreSQL named by CREDSHIELD_TEST_POSTGRES.
package storetest

import (
	"context"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// Store is the method set both backends implement: the contract Run tests.
type Store interface {
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

	GetOrCreateSecret(ctx context.Context, name string, sealed []byte, now time.Time) ([]byte, error)
	ReplaceSecret(ctx context.Context, name string, old, new []byte) error
	SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	UpdateSigningKeys(ctx context.Context, fn func(keys []store.SigningKey) (store.KeyChange, error)) error

	PasswordScreening(ctx context.Context, id string) (store.Screening, error)
	SetPasswordScreening(ctx context.Context, id string, sc store.Screening, now time.Time) error
	BreachFilter(ctx context.Context) (store.BreachFilter, error)
	SetBreachFilter(ctx context.Context, f store.BreachFilter) error
}
