package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// RefreshStore keeps refresh-token families by token hash (store/sqlite).
// The server never hands it a usable token: only SHA-256 hashes. Errors
// wrap the store sentinels (ErrNotFound, ErrReused, ErrRevoked,
// ErrExpired). Implementations are safe for concurrent use.
type RefreshStore interface {
	CreateRefreshFamily(ctx context.Context, f store.RefreshFamily, tokenHash string, idleExpiresAt time.Time, maxLive int) (store.RefreshFamily, error)
	RefreshFamilyByToken(ctx context.Context, tokenHash string) (store.RefreshFamily, error)
	RotateRefreshToken(ctx context.Context, oldHash, newHash string, now, idleExpiresAt time.Time) (store.RefreshFamily, error)
	RevokeRefreshFamily(ctx context.Context, id string, now time.Time) error
}

// Default refresh-token lifetimes (Config.RefreshTTL, RefreshIdleTTL).
const (
	DefaultRefreshTTL     = 30 * 24 * time.Hour
	DefaultRefreshIdleTTL = 7 * 24 * time.Hour
	// DefaultRefreshFamiliesPerUser is Config.RefreshFamiliesPerUser's
	// default: far more devices and browsers than a person uses.
	DefaultRefreshFamiliesPerUser = 100
)

// refreshTokenLen is the length of a refresh token: 256 random bits,
// unpadded base64url.
const refreshTokenLen = 43

// refreshFailed is the one answer to every refresh token that cannot be
// redeemed (RFC 6749 §5.2): unknown, used, revoked, expired, bound to
// another key or issued to another client look the same.
var refreshFailed = &oauthError{
	Status:      http.StatusBadRequest,
	Code:        "invalid_grant",
	Description: "the refresh token is invalid, expired or revoked",
}

// newRefreshToken returns a fresh refresh token and the hash it is stored
// under.
func newRefreshToken() (tok, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	tok = base64.RawURLEncoding.EncodeToString(b[:])
	return tok, refreshHash(tok)
}

// refreshHash is the stored form of a refresh token: hex SHA-256. The token
// holds 256 random bits, so a fast hash suffices (no guessing to slow down).
func refreshHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// wellFormedRefresh reports whether tok can be one of ours.
func wellFormedRefresh(tok string) bool {
	if len(tok) != refreshTokenLen {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
