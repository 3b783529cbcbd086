// Package store holds the records credshield persists and the errors its
// backends return. Backends live in subpackages (store/sqlite, later
// store/postgres) and return these types, so a consumer can declare the small
// interface it needs without importing a particular database driver.
package store

import (
	"errors"
	"time"
)

// Sentinel errors every backend wraps, so callers can use errors.Is without
// knowing which database answered.
var (
	// ErrNotFound means no record matched. Handlers must not let this reach a
	// client as anything more specific than a generic failure.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a unique constraint (a username) already holds the value.
	ErrConflict = errors.New("store: conflict")
	// ErrStale means a compare-and-swap update found the row changed since it
	// was read (for example a password reset raced a rehash on login).
	ErrStale = errors.New("store: stale")
)

// User is one account. Username is always the normalised form (see package
// username); ID is a random, stable identifier that becomes the token's sub
// claim, so renaming or normalisation changes never re-target tokens.
//
// PasswordHash is an encoded hash string (PHC argon2id, or an imported bcrypt
// or passlib form). HashClass is the hash with salt and digest removed — its
// scheme and cost — so the server can learn, without reading every hash,
// which schemes it must match in the failure-timing floor.
type User struct {
	ID           string
	Username     string
	PasswordHash string
	HashClass    string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// DeviceEpoch is raised by a password reset or a disable; device
	// credentials issued under an older epoch are revoked.
	DeviceEpoch uint32
}

// NewUser is what creating or importing an account needs. Username must
// already be normalised.
type NewUser struct {
	Username     string
	PasswordHash string
	HashClass    string
}
