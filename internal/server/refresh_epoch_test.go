package server

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// raceHasher runs hook once, at the first password check after armed is
// set, before the check itself: at that point the login has read the
// account (hash and epoch) and is about to verify the password it was
// given, which is where a real hash (tens to hundreds of milliseconds)
// leaves the window open.
type raceHasher struct {
	Hasher
	armed atomic.Bool
	hook  func()
}

func (h *raceHasher) Do(ctx context.Context, fn func()) error {
	if h.armed.CompareAndSwap(true, false) {
		h.hook()
	}
	return h.Hasher.Do(ctx, fn)
}

func (h *raceHasher) DoFirst(ctx context.Context, key string, fn func()) error {
	if h.armed.CompareAndSwap(true, false) {
		h.hook()
	}
	return h.Hasher.DoFirst(ctx, key, fn)
}

// TestRefreshFamilyOutlivesPasswordChange: an attacker who knows the old
// password logs in while the owner changes it. The login read the account
// before the change and verifies the old hash after it; the change revoked
// every family that existed, and the login must not start a new one (it
// did, tied to no epoch, and the refresh grant then minted access tokens
// carrying the new epoch for the family's whole lifetime). The login is
// refused as a wrong password is: the password it checked is no longer
// the account's.
func TestRefreshFamilyOutlivesPasswordChange(t *testing.T) {
	rh := &raceHasher{}
	e := newTestEnv(t, withHasher(func(h Hasher) Hasher { rh.Hasher = h; return rh }))
	e.addUser("alice", oldPassword)
	owner := e.session(e.login("alice", oldPassword))

	var changed response
	rh.hook = func() { changed = e.changePassword("Bearer "+owner.access, oldPassword, newPassword) }
	rh.armed.Store(true)
	attacker := e.login("alice", oldPassword) // verifies the old hash after the change committed
	if changed.status != http.StatusOK {
		t.Fatalf("owner's change: %d %s", changed.status, changed.body)
	}
	if attacker.status != http.StatusOK {
		refusedAsWrongPassword(t, attacker)
		return
	}
	stolen := e.session(attacker)
	if res := e.me("Bearer " + stolen.access); res.status == http.StatusOK {
		t.Errorf("the login's own access token works after the change")
	}
	time.Sleep(10 * time.Millisecond)
	res := e.refresh(stolen.refresh, nil)
	if res.status != http.StatusOK {
		return // refused: fixed
	}
	next := e.session2(res)
	if me := e.me("Bearer " + next); me.status == http.StatusOK {
		t.Errorf("a refresh family started with the old password outlives the password change: refresh %d, /users/me with its access token %d", res.status, me.status)
	} else {
		t.Errorf("refresh of a family started with the old password succeeded after the change (status %d)", res.status)
	}
}

// TestRefreshFamilyOutlivesReset: the same window with an administrator's
// reset (credshield user reset; before it was one transaction, SetPassword
// then RevokeUserRefreshFamilies, which the hook still runs).
func TestRefreshFamilyOutlivesReset(t *testing.T) {
	rh := &raceHasher{}
	e := newTestEnv(t, withHasher(func(h Hasher) Hasher { rh.Hasher = h; return rh }))
	u := e.addUser("alice", oldPassword)
	ctx := context.Background()
	rh.hook = func() {
		now := time.Now()
		if _, err := e.st.SetPassword(ctx, "alice", u.PasswordHash+"x", "argon2id", now); err != nil {
			t.Errorf("reset: %v", err)
		}
		if _, err := e.st.RevokeUserRefreshFamilies(ctx, u.ID, now); err != nil {
			t.Errorf("revoke: %v", err)
		}
	}
	rh.armed.Store(true)
	attacker := e.login("alice", oldPassword)
	if attacker.status != http.StatusOK {
		refusedAsWrongPassword(t, attacker)
		return
	}
	stolen := e.session(attacker)
	res := e.refresh(stolen.refresh, nil)
	if res.status != http.StatusOK {
		return
	}
	next := e.session2(res)
	me := e.me("Bearer " + next)
	t.Errorf("a refresh family started with the old password outlives the reset: refresh %d, /users/me with its access token %d", res.status, me.status)
}

func (e *testEnv) session2(res response) string {
	e.t.Helper()
	tok, _ := res.json(e.t)["access_token"].(string)
	return tok
}

// refusedAsWrongPassword checks that a login the account changed under
// got the answer of a wrong password, and no token.
func refusedAsWrongPassword(t *testing.T, res response) {
	t.Helper()
	body := res.json(t)
	if res.status != http.StatusBadRequest || body["error"] != "invalid_grant" || body["access_token"] != nil || body["refresh_token"] != nil {
		t.Errorf("login overtaken by a password change: %d %s; want invalid_grant and no token", res.status, res.body)
	}
}

// TestRefreshFamilyOfAnOlderEpochIsRefused: a family whose account epoch is
// not the account's (one started before families carried the epoch, for
// an account whose epoch has moved since) is refused and revoked at its
// next refresh, as a disabled account's is.
func TestRefreshFamilyOfAnOlderEpochIsRefused(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("alice", oldPassword)
	s := e.session(e.login("alice", oldPassword))

	// The epoch moves under the family without the store's methods (which
	// all revoke or carry the families along), as an upgrade leaves it.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(filepath.Dir(e.keysDir), "credshield.db")+"?"+url.Values{"_busy_timeout": {"5000"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE users SET device_epoch = device_epoch + 1 WHERE username = 'alice'`); err != nil {
		t.Fatal(err)
	}

	res := e.refresh(s.refresh, nil)
	if res.status != http.StatusBadRequest || res.json(t)["error"] != "invalid_grant" {
		t.Fatalf("refresh of a family from an older account epoch: status %d; want 400 invalid_grant", res.status)
	}
	fam, err := e.st.RefreshFamilyByToken(context.Background(), refreshHash(s.refresh))
	if err != nil {
		t.Fatal(err)
	}
	if fam.RevokedAt.IsZero() {
		t.Error("the family of an older account epoch is still live")
	}
}
