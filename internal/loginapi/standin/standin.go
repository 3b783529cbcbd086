// Package standin provides stand-in upstreams for tests: small HTTP
// services that answer logins the way Ory Kratos (API and browser flows),
// Authelia, Keycloak and Supabase Auth (GoTrue) do — the same routes,
// bodies, answers and client-address header — and with the same
// documented weaknesses: the Kratos stand-in has no rate limit at all;
// the Authelia one bans a username (never an address) after 3 failures in
// 2 minutes, checking the ban before the password and marking the failure
// after it, so parallel attempts each get a hash; the Keycloak one locks
// a user out after repeated failures from anyone, the owner included; the
// GoTrue one limits per value of a header whoever sends it chooses, and
// not at all without it. Acme is a login API of its own shape that no
// built-in profile knows, for custom profiles. All hash with argon2id at
// a low cost and count every password check, so a test can say exactly
// how many guesses reached the service.
//
// They are written from the services' documented APIs and from the
// sources the loginapi profiles cite; they are test support, never a
// replacement for the real services (scripts/e2e-real-services.sh checks
// those). Serve them with httptest.NewServer, which listens on loopback.
package standin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// hash is an argon2id digest at a low cost (1 pass, 1 MiB): real work a
// guess must pay, cheap enough for a test to make hundreds.
type hash struct{ salt, key []byte }

func newHash(password string) hash {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	return hash{salt: salt, key: derive(password, salt)}
}

func derive(password string, salt []byte) []byte {
	return argon2.IDKey([]byte(password), salt, 1, 1<<10, 1, 32)
}

func (h hash) matches(password string) bool {
	return subtle.ConstantTimeCompare(derive(password, h.salt), h.key) == 1
}

// users is a set of accounts with hashed passwords and a counter of
// password checks. Safe for concurrent use.
type users struct {
	hashes map[string]hash
	dummy  hash
	checks atomic.Int64
}

func newUsers(accounts map[string]string) *users {
	u := &users{hashes: make(map[string]hash, len(accounts)), dummy: newHash("")}
	for name, pw := range accounts {
		u.hashes[name] = newHash(pw)
	}
	return u
}

// check compares password with name's hash, or with a dummy hash for an
// unknown name (the same work, so timing tells nothing), and counts it.
func (u *users) check(name, password string) bool {
	u.checks.Add(1)
	h, ok := u.hashes[name]
	if !ok {
		u.dummy.matches(password)
		return false
	}
	return h.matches(password)
}

// clientLog records the client address each request carried, as the
// service reads it.
type clientLog struct {
	mu   sync.Mutex
	seen []string
}

func (c *clientLog) add(ip string) {
	c.mu.Lock()
	c.seen = append(c.seen, ip)
	c.mu.Unlock()
}

func (c *clientLog) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
