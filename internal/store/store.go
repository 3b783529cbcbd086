// Package store holds the records credshield persists, the errors its
// backends return and, once, the interface they implement (Store). The SQL
// is written once, for both databases, in store/sqlstore; the backends
// (store/sqlite and store/postgres) only open their database and say how
// it locks and reports errors. A consumer declares the small interface it
// needs of these types without importing a particular database driver.
package store

import (
	"errors"
	"fmt"
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
	// ErrReused means a refresh token was presented after it had already
	// been redeemed: the token leaked, and its whole family is now revoked.
	ErrReused = errors.New("store: refresh token reused")
	// ErrRevoked means the refresh token's family was revoked (reuse,
	// logout, POST /revoke, a password reset or a disable).
	ErrRevoked = errors.New("store: revoked")
	// ErrExpired means the refresh token passed its idle or absolute
	// lifetime.
	ErrExpired = errors.New("store: expired")
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
	// DeviceEpoch is the account epoch: raised by every change to the
	// account's credentials or state (a password reset, a disable, an
	// enable, a change of its scopes). Device credentials and access tokens
	// carry the epoch they were issued under and are refused once it is
	// not the current one: one counter, one rule, for both kinds of
	// credential. (The column keeps its first name, device_epoch.)
	DeviceEpoch uint32
	// Scopes are the scopes granted to this account beyond those every
	// account may request: space-delimited RFC 6749 §3.3 scope tokens, ""
	// for none.
	Scopes string
}

// NewUser is what creating or importing an account needs. Username must
// already be normalised.
type NewUser struct {
	Username     string
	PasswordHash string
	HashClass    string
	// Unscreened marks an imported hash whose password could not be
	// screened: CreateUsers stores Screening{Pending: true} with it.
	Unscreened bool
}

// RefreshFamily is the chain of refresh tokens one login started. Every
// token of the family carries the same grant (user, client, scope, DPoP key);
// revoking the family revokes all of them. JKT is the RFC 7638 thumbprint of
// the DPoP key the family is bound to, "" when it is not bound. RevokedAt is
// zero while the family is live.
//
// AccountEpoch is the account epoch (User.DeviceEpoch) the login that
// started the family read: the family lives only while it is still the
// account's, so a password checked against a hash that a change or reset
// replaced meanwhile never yields a session.
type RefreshFamily struct {
	ID                string
	UserID            string
	ClientID          string
	Scope             string
	JKT               string
	AccountEpoch      uint32
	CreatedAt         time.Time
	AbsoluteExpiresAt time.Time
	RevokedAt         time.Time
}

// BatchError reports which account of a CreateUsers batch failed. The batch
// was rolled back: no account of it was stored. Err wraps ErrConflict when
// the username was taken, by an existing account or by an earlier entry of
// the same batch. Every backend returns it, so the import command reports
// the failing line the same way whichever database answered.
type BatchError struct {
	Index    int    // position in the slice passed to CreateUsers
	Username string // that entry's username
	Err      error  // the cause
}

// Error names the entry by index and username; it never includes the hash.
func (e *BatchError) Error() string {
	return fmt.Sprintf("store: create users: entry %d (username %q): %v", e.Index, e.Username, e.Err)
}

// Unwrap returns the cause, so errors.Is(err, ErrConflict) works.
func (e *BatchError) Unwrap() error { return e.Err }
