package store

import (
	"context"
	"time"
)

// Store is the whole method set of a credshield store: what
// store/sqlite and store/postgres implement (each says so with an
// interface guard), what package storetest checks they do alike, and what
// the command wires into the parts. A part that uses a store still declares
// the small interface of the methods it calls, where it calls them.
//
// Implementations are safe for concurrent use by many goroutines. Times
// are stored to the millisecond and come back in UTC.
type Store interface {
	// Close releases the store's connections; call it once.
	Close() error
	// Ping checks that the database answers, for readiness probes.
	Ping(ctx context.Context) error

	Accounts
	RefreshTokens
	Sealed
	Screenings
}

// Accounts are the users (migrations 00001, 00002, 00006).
type Accounts interface {
	CreateUser(ctx context.Context, u NewUser, now time.Time) (User, error)
	CreateUsers(ctx context.Context, us []NewUser, now time.Time) error
	UserByName(ctx context.Context, username string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	SetDisabled(ctx context.Context, username string, disabled bool, now time.Time) (int64, error)
	SetPassword(ctx context.Context, username, hash, class string, now time.Time) (int64, error)
	SetScopes(ctx context.Context, username, scopes string, now time.Time) error
	// DeleteUser removes an account and everything kept for it (refresh
	// families, pending screening); store.ErrNotFound when unknown.
	DeleteUser(ctx context.Context, username string) error
	ReplaceHash(ctx context.Context, id, oldHash, newHash, class string, now time.Time) error
	ChangePassword(ctx context.Context, id string, epoch uint32, oldHash, newHash, class string, now time.Time) (User, error)
	HashClasses(ctx context.Context) ([]string, error)
}

// RefreshTokens are the refresh-token families, kept by token hash, and
// the revoked access-token jtis (migrations 00003, 00004, 00008).
type RefreshTokens interface {
	CreateRefreshFamily(ctx context.Context, f RefreshFamily, tokenHash string, idleExpiresAt time.Time, maxLive int) (RefreshFamily, error)
	RefreshFamilyByToken(ctx context.Context, tokenHash string) (RefreshFamily, error)
	RotateRefreshToken(ctx context.Context, oldHash, newHash string, now, idleExpiresAt time.Time) (RefreshFamily, error)
	RevokeRefreshFamily(ctx context.Context, id string, now time.Time) error
	RevokeUserRefreshFamilies(ctx context.Context, userID string, now time.Time) (int64, error)
	RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error
	JTIRevoked(ctx context.Context, jti string, now time.Time) (bool, error)
	PurgeExpired(ctx context.Context, now time.Time) (int64, error)
}

// Sealed are the secrets and signing keys kept sealed under a
// key-encryption key the database never holds (migration 00005).
type Sealed interface {
	GetOrCreateSecret(ctx context.Context, name string, sealed []byte, now time.Time) ([]byte, error)
	ReplaceSecret(ctx context.Context, name string, old, new []byte) error
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	UpdateSigningKeys(ctx context.Context, fn func(keys []SigningKey) (KeyChange, error)) error
}

// Screenings are the accounts' password-screening states and the record
// of the breach filter last imported (migration 00007).
type Screenings interface {
	PasswordScreening(ctx context.Context, id string) (Screening, error)
	SetPasswordScreening(ctx context.Context, id string, sc Screening, now time.Time) error
	BreachFilter(ctx context.Context) (BreachFilter, error)
	SetBreachFilter(ctx context.Context, f BreachFilter) error
}
