package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/credshield/credshield/token"
)

// Limits of a key set.
const (
	maxKIDLen  = 128 // as token's verifier: longer kids are never ours
	minRSABits = 2048
)

// ErrJWKS reports a JWKS that could not be fetched or holds no usable key.
var ErrJWKS = errors.New("verify: jwks unavailable")

// keySet is one immutable fetched JWKS.
type keySet struct {
	keys    map[string]jwksKey // by kid
	fetched time.Time
}

type jwksKey struct {
	pub crypto.PublicKey
	alg string
}

// keyCache holds the current key set and refreshes it. Readers never lock;
// mu serialises fetches.
type keyCache struct {
	url        string
	client     *http.Client
	maxBytes   int64
	ttl        time.Duration
	minRefresh time.Duration
	timeout    time.Duration

	set atomic.Pointer[keySet]

	mu          sync.Mutex
	lastAttempt time.Time // of the last fetch, failed or not; guarded by mu
}

var _ token.KeyLookup = (*keyCache)(nil)

// PublicKey implements token.KeyLookup over the current set.
func (c *keyCache) PublicKey(kid string) (crypto.PublicKey, string, bool) {
	s := c.set.Load()
	if s == nil {
		return nil, "", false
	}
	k, ok := s.keys[kid]
	return k.pub, k.alg, ok
}

// refreshIfStale refreshes a set older than ttl, unless another request is
// already fetching (that one pays the latency; this one goes on with the
// current set) or the last attempt was within minRefresh.
func (c *keyCache) refreshIfStale(ctx context.Context, now time.Time) {
	if s := c.set.Load(); s != nil && now.Sub(s.fetched) < c.ttl {
		return
	}
	if !c.mu.TryLock() {
		return
	}
	defer c.mu.Unlock()
	if now.Sub(c.lastAttempt) < c.minRefresh {
		return
	}
	_ = c.fetchLocked(ctx, now) // on failure the last good set stays
}

// refreshForUnknownKey is called after a lookup in before failed. It
// reports whether a lookup is worth retrying: another request replaced the
// set meanwhile, or this one fetched a new set. Fetches are at most one per
// minRefresh.
func (c *keyCache) refreshForUnknownKey(ctx context.Context, now time.Time, before *keySet) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.set.Load() != before {
		return true
	}
	if now.Sub(c.lastAttempt) < c.minRefresh {
		return false
	}
	return c.fetchLocked(ctx, now) == nil
}

// fetchLocked fetches and installs the JWKS. Requires c.mu held. The fetch
// does not follow the request's cancellation: a client hanging up must not
// use up the rate limit without a fetch.
func (c *keyCache) fetchLocked(ctx context.Context, now time.Time) error {
	c.lastAttempt = now
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	keys, err := c.fetch(ctx)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrJWKS, c.url, err)
	}
	c.set.Store(&keySet{keys: keys, fetched: now})
	return nil
}

func (c *keyCache) fetch(ctx context.Context) (map[string]jwksKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > c.maxBytes {
		return nil, fmt.Errorf("larger than %d bytes", c.maxBytes)
	}
	return parseJWKS(body)
}

// privateMembers are JWK members that hold private or secret key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// parseJWKS returns the usable verification keys of a JWKS document. Keys
// it cannot use are skipped, not fatal: a JWKS may carry keys for other
// purposes or of types added later. A kid that appears twice is dropped
// altogether, since it no longer names one key.
func parseJWKS(b []byte) (map[string]jwksKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse jwks: %w", err)
	}
	keys := make(map[string]jwksKey, len(doc.Keys))
	dup := map[string]bool{}
	for _, raw := range doc.Keys {
		kid, k, ok := parseKey(raw)
		if !ok {
			continue
		}
		if _, seen := keys[kid]; seen {
			dup[kid] = true
		}
		keys[kid] = k
	}
	for kid := range dup {
		delete(keys, kid)
	}
	if len(keys) == 0 {
		return nil, errors.New("parse jwks: no usable signing key")
	}
	return keys, nil
}

// parseKey returns one JWKS entry's kid and key if it is usable here.
func parseKey(raw json.RawMessage) (string, jwksKey, bool) {
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return "", jwksKey{}, false
	}
	for _, m := range privateMembers {
		if _, ok := members[m]; ok {
			return "", jwksKey{}, false
		}
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil || !jwk.Valid() || !jwk.IsPublic() {
		return "", jwksKey{}, false
	}
	if (jwk.Use != "" && jwk.Use != "sig") || jwk.KeyID == "" || len(jwk.KeyID) > maxKIDLen {
		return "", jwksKey{}, false
	}
	if !suits(jwk.Key, jwk.Algorithm) {
		return "", jwksKey{}, false
	}
	return jwk.KeyID, jwksKey{pub: jwk.Key, alg: jwk.Algorithm}, true
}

// suits reports whether pub is a key type and size alg may use; only the
// algorithms package token verifies are accepted.
func suits(pub crypto.PublicKey, alg string) bool {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return alg == token.EdDSA && len(k) == ed25519.PublicKeySize
	case *ecdsa.PublicKey:
		return alg == token.ES256 && k.Curve == elliptic.P256()
	case *rsa.PublicKey:
		return alg == token.RS256 && k.N.BitLen() >= minRSABits
	}
	return false
}
