package server

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/token"
)

// kidOf returns the kid in a token's header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// publishedKIDs returns the kids GET /.well-known/jwks.json lists.
func publishedKIDs(t *testing.T, e *testEnv) []string {
	t.Helper()
	var set struct{ Keys []struct{ Kid string } }
	if err := json.Unmarshal(get(t, e, "/.well-known/jwks.json").body, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	return kids
}

// TestStagedKeyRotation runs a rotation against a live server with a
// stepped clock: the new key is published before it signs, tokens the old
// key signed stay valid until they expire, and --now switches at once.
func TestStagedKeyRotation(t *testing.T) {
	clock := &stepClock{now: time.Now()}
	e := newTestEnv(t, withConfig(func(c *Config) { c.Now = clock.Now }))
	e.addUser("alice", "correct horse battery")
	const lead = 10 * time.Minute
	retire := e.cfg.AccessTTL + e.cfg.Leeway + time.Minute
	old := e.keys.ActiveAt(clock.now)
	oldTok := e.accessToken("alice", "correct horse battery")

	next, _, err := token.Rotate(t.Context(), token.Dir(e.keysDir), token.EdDSA, rand.Reader, clock.now, clock.now.Add(lead), retire, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.keys.Reload(t.Context(), clock.now, retire); err != nil {
		t.Fatal(err)
	}
	both := []string{old.ID, next.ID}
	slices.Sort(both)
	if got := publishedKIDs(t, e); !slices.Equal(got, both) {
		t.Fatalf("JWKS after staging: %v, want both %v", got, both)
	}
	if kid := kidOf(t, e.accessToken("alice", "correct horse battery")); kid != old.ID {
		t.Errorf("staged key signed before its lead: %s", kid)
	}

	clock.now = clock.now.Add(lead)
	if err := e.keys.Reload(t.Context(), clock.now, retire); err != nil {
		t.Fatal(err)
	}
	newTok := e.accessToken("alice", "correct horse battery")
	if kid := kidOf(t, newTok); kid != next.ID {
		t.Errorf("after the lead: signed by %s, want %s", kid, next.ID)
	}
	for name, tok := range map[string]string{"old key's token": oldTok, "new key's token": newTok} {
		if res := e.me("Bearer " + tok); res.status != http.StatusOK {
			t.Errorf("%s: %d %s", name, res.status, res.body)
		}
	}
	if got := publishedKIDs(t, e); !slices.Equal(got, both) {
		t.Errorf("JWKS after the switch: %v, want both", got)
	}

	// Once every token the old key signed has expired, it leaves the JWKS.
	clock.now = clock.now.Add(retire)
	if err := e.keys.Reload(t.Context(), clock.now, retire); err != nil {
		t.Fatal(err)
	}
	if got := publishedKIDs(t, e); !slices.Equal(got, []string{next.ID}) {
		t.Errorf("JWKS after retirement: %v, want only %s", got, next.ID)
	}

	// --now: the emergency key signs at once.
	now, _, err := token.Rotate(t.Context(), token.Dir(e.keysDir), token.EdDSA, rand.Reader, clock.now, clock.now, retire, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.keys.Reload(t.Context(), clock.now, retire); err != nil {
		t.Fatal(err)
	}
	tok := e.accessToken("alice", "correct horse battery")
	if kid := kidOf(t, tok); kid != now.ID {
		t.Errorf("--now: signed by %s, want %s", kid, now.ID)
	}
	if res := e.me("Bearer " + tok); res.status != http.StatusOK {
		t.Errorf("--now token: %d", res.status)
	}
}
