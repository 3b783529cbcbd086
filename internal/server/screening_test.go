package server

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/credshield/credshield/internal/breach"
	"github.com/credshield/credshield/internal/password"
	"github.com/credshield/credshield/internal/store"
)

// TestImportedAccountScreenedAtLogin: an imported account is screened at
// its first successful login. A common password still logs in (no lockout
// at login) but the account is marked as needing a change and the event is
// logged without the password; a clean one is settled; a wrong password
// screens nothing.
func TestImportedAccountScreenedAtLogin(t *testing.T) {
	common, err := breach.NewCommon()
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, withScreen(&breach.Screener{Common: common}))
	ctx := context.Background()
	imported := map[string]string{"weak": "Password", "strong": "an uncommon passphrase of mine"}
	var batch []store.NewUser
	for name, pw := range imported {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), 4)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, store.NewUser{Username: name, PasswordHash: string(h), HashClass: "$2a$04$", Unscreened: true})
	}
	if err := e.st.CreateUsers(ctx, batch, time.Now()); err != nil {
		t.Fatal(err)
	}
	screening := func(name string) store.Screening {
		t.Helper()
		u, err := e.st.UserByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := e.st.PasswordScreening(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	if res := e.login("weak", "Password?"); res.status != http.StatusBadRequest {
		t.Fatalf("wrong password: status %d", res.status)
	}
	if sc := screening("weak"); sc != (store.Screening{Pending: true}) {
		t.Fatalf("after a wrong password: %+v; want still pending", sc)
	}
	for name, pw := range imported {
		if res := e.login(name, pw); res.status != http.StatusOK {
			t.Fatalf("%s: login status %d %s; a screened-out password must still log in", name, res.status, res.body)
		}
	}
	if sc := screening("weak"); sc != (store.Screening{ChangeRequired: true}) {
		t.Errorf("weak after login: %+v; want a required change", sc)
	}
	if sc := screening("strong"); sc != (store.Screening{}) {
		t.Errorf("strong after login: %+v; want settled", sc)
	}
	events := e.logs.Events("password.breached")
	if len(events) != 1 || events[0]["username"] != "weak" {
		t.Fatalf("password.breached events: %v; want one for weak", events)
	}
	logged := e.logs.String()
	if strings.Contains(logged, "Password\"") || strings.Contains(logged, imported["strong"]) {
		t.Error("a password reached the log")
	}
	// Later logins do not screen again (one event, state unchanged).
	if res := e.login("weak", "Password"); res.status != http.StatusOK {
		t.Fatalf("second login: %d", res.status)
	}
	if n := len(e.logs.Events("password.breached")); n != 1 {
		t.Errorf("%d password.breached events after a second login; want 1", n)
	}
}

// TestLoginNFKCFallbackRehashes: a user whose hash predates normalisation
// (a hash of the raw, non-NFKC password) logs in, and the hash is replaced
// by one of the NFKC form, after which the password typed in any
// composition logs in without the fallback.
func TestLoginNFKCFallbackRehashes(t *testing.T) {
	e := newTestEnv(t)
	raw := "Cafe\u0301 au lait, ﬁfteen+"
	old, err := password.Hash(rand.Reader, []byte(raw), testParams)
	if err != nil {
		t.Fatal(err)
	}
	u := e.addUserHash("decomposed", old)
	if res := e.login("decomposed", raw); res.status != http.StatusOK {
		t.Fatalf("login with the old hash: %d %s", res.status, res.body)
	}
	after, err := e.st.UserByID(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.PasswordHash == old {
		t.Fatal("hash not replaced after a raw-form match")
	}
	if match, rehash, err := password.Verify(after.PasswordHash, []byte(password.Normalize(raw)), testParams); err != nil || !match || rehash {
		t.Fatalf("new hash does not hold the NFKC form: match %v rehash %v err %v", match, rehash, err)
	}
	if res := e.login("decomposed", "Caf\u00e9 au lait, fifteen+"); res.status != http.StatusOK {
		t.Errorf("login in composed form after rehash: %d", res.status)
	}
}
