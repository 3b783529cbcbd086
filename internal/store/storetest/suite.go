package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/store"
)

// T0 is the tests' "now". It has sub-millisecond digits so the tests see
// the truncation to milliseconds.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

var t0 = T0

// Run runs the whole suite, each test in parallel on a store of its own:
// open must return a new, empty, migrated store and close it when t ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"UserCRUD", testUserCRUD},
		{"CreateUserErrors", testCreateUserErrors},
		{"CreateUsers", testCreateUsers},
		{"ReplaceHash", testReplaceHash},
		{"HashClasses", testHashClasses},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ReplaceHashRace", testReplaceHashRace},
		{"ContextCancelled", testContextCancelled},
		{"DeviceEpoch", testDeviceEpoch},
		{"Scopes", testScopes},
		{"DeleteUser", testDeleteUser},
		{"RefreshRotation", testRefreshRotation},
		{"RefreshRevocation", testRefreshRevocation},
		{"RefreshFamiliesCappedPerUser", testRefreshFamiliesCappedPerUser},
		{"RefreshRotationRace", testRefreshRotationRace},
		{"RefreshFamilyEpoch", testRefreshFamilyEpoch},
		{"RefreshFamilyEpochRace", testRefreshFamilyEpochRace},
		{"RevokedJTIs", testRevokedJTIs},
		{"SecretGetOrCreate", testSecretGetOrCreate},
		{"SecretGetOrCreateRace", testSecretGetOrCreateRace},
		{"ReplaceSecret", testReplaceSecret},
		{"SigningKeys", testSigningKeys},
		{"SigningKeysSerialised", testSigningKeysSerialised},
		{"PasswordScreening", testPasswordScreening},
		{"ChangePassword", testChangePassword},
		{"BreachFilter", testBreachFilter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// NewUser is an account named name, with a well-formed argon2id hash
// unique to it, for tests of a store.
func NewUser(name string) store.NewUser {
	return store.NewUser{
		Username:     name,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$" + name,
		HashClass:    "argon2id$v=19$m=19456,t=2,p=1",
	}
}

// MustCreate creates NewUser(name) in s at T0, or fails t.
func MustCreate(t *testing.T, s store.Accounts, name string) store.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), NewUser(name), t0)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}

// hashOf is the stored form of a test refresh token.
func hashOf(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func newFamily(t *testing.T, s store.Store, userID, tok string) store.RefreshFamily {
	t.Helper()
	f, err := s.CreateRefreshFamily(t.Context(), store.RefreshFamily{
		UserID: userID, ClientID: "cli", Scope: "read", JKT: "jkt-1",
		CreatedAt: t0, AbsoluteExpiresAt: t0.Add(30 * 24 * time.Hour),
	}, hashOf(tok), t0.Add(7*24*time.Hour), 0)
	if err != nil {
		t.Fatalf("CreateRefreshFamily: %v", err)
	}
	return f
}

func testUserCRUD(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()

	alice := MustCreate(t, s, "alice")
	bob := MustCreate(t, s, "bob")

	t.Run("created", func(t *testing.T) {
		want := store.User{
			ID:           alice.ID,
			Username:     "alice",
			PasswordHash: NewUser("alice").PasswordHash,
			HashClass:    NewUser("alice").HashClass,
			CreatedAt:    t0.Truncate(time.Millisecond),
			UpdatedAt:    t0.Truncate(time.Millisecond),
		}
		if alice != want {
			t.Errorf("CreateUser = %+v, want %+v", alice, want)
		}
		if len(alice.ID) != 32 || strings.Trim(alice.ID, "0123456789abcdef") != "" {
			t.Errorf("ID %q is not 32 hex digits", alice.ID)
		}
		if alice.ID == bob.ID {
			t.Error("two users share an ID")
		}
	})

	t.Run("lookups", func(t *testing.T) {
		tests := []struct {
			name    string
			lookup  func() (store.User, error)
			want    store.User
			wantErr error
		}{
			{"by name", func() (store.User, error) { return s.UserByName(ctx, "alice") }, alice, nil},
			{"by id", func() (store.User, error) { return s.UserByID(ctx, bob.ID) }, bob, nil},
			{"unknown name", func() (store.User, error) { return s.UserByName(ctx, "carol") }, store.User{}, store.ErrNotFound},
			{"name is case-sensitive", func() (store.User, error) { return s.UserByName(ctx, "Alice") }, store.User{}, store.ErrNotFound},
			{"unknown id", func() (store.User, error) { return s.UserByID(ctx, "00") }, store.User{}, store.ErrNotFound},
			{"id is not a name", func() (store.User, error) { return s.UserByID(ctx, "alice") }, store.User{}, store.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := tt.lookup()
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
			})
		}
	})

	t.Run("list ordered by username", func(t *testing.T) {
		MustCreate(t, s, "aaron")
		got, err := s.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range got {
			names = append(names, u.Username)
		}
		if want := []string{"aaron", "alice", "bob"}; !reflect.DeepEqual(names, want) {
			t.Errorf("ListUsers names = %q, want %q", names, want)
		}
	})

	t1 := t0.Add(time.Hour)
	t.Run("disable and enable", func(t *testing.T) {
		for _, disabled := range []bool{true, false, true} {
			if _, err := s.SetDisabled(ctx, "bob", disabled, t1); err != nil {
				t.Fatalf("SetDisabled(%v): %v", disabled, err)
			}
			got, err := s.UserByName(ctx, "bob")
			if err != nil {
				t.Fatal(err)
			}
			if got.Disabled != disabled {
				t.Errorf("Disabled = %v, want %v", got.Disabled, disabled)
			}
			if !got.UpdatedAt.Equal(t1.Truncate(time.Millisecond)) || !got.CreatedAt.Equal(bob.CreatedAt) {
				t.Errorf("times = %v / %v, want created %v updated %v", got.CreatedAt, got.UpdatedAt, bob.CreatedAt, t1)
			}
		}
		if _, err := s.SetDisabled(ctx, "carol", true, t1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetDisabled(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("set password", func(t *testing.T) {
		if _, err := s.SetPassword(ctx, "alice", "$2b$12$resethash", "bcrypt$12", t1); err != nil {
			t.Fatal(err)
		}
		got, err := s.UserByID(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.PasswordHash != "$2b$12$resethash" || got.HashClass != "bcrypt$12" || !got.UpdatedAt.Equal(t1.Truncate(time.Millisecond)) {
			t.Errorf("after SetPassword: %+v", got)
		}
		if _, err := s.SetPassword(ctx, "carol", "$2b$12$x", "bcrypt$12", t1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetPassword(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := s.SetPassword(ctx, "alice", "", "bcrypt$12", t1); err == nil {
			t.Error("SetPassword with empty hash succeeded")
		}
	})
}

func testCreateUserErrors(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	MustCreate(t, s, "alice")
	secret := "$argon2id$v=19$m=19456,t=2,p=1$secretsalt$secretdigest"
	tests := []struct {
		name     string
		u        store.NewUser
		conflict bool
	}{
		{"username taken", store.NewUser{Username: "alice", PasswordHash: secret, HashClass: "c"}, true},
		{"empty username", store.NewUser{PasswordHash: secret, HashClass: "c"}, false},
		{"empty hash", store.NewUser{Username: "bob", HashClass: "c"}, false},
		{"empty class", store.NewUser{Username: "bob", PasswordHash: secret}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateUser(t.Context(), tt.u, t0)
			if err == nil {
				t.Fatal("CreateUser succeeded")
			}
			if errors.Is(err, store.ErrConflict) != tt.conflict {
				t.Errorf("err = %v, want ErrConflict: %v", err, tt.conflict)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q reveals the hash", err)
			}
		})
	}
	users, err := s.ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 {
		t.Errorf("%d users stored, want 1", len(users))
	}
}

func testCreateUsers(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name      string
		batch     []string // usernames; "" makes an invalid entry
		wantIndex int      // -1: success
		conflict  bool
	}{
		{"all new", []string{"carol", "dave", "erin"}, -1, false},
		{"empty batch", nil, -1, false},
		{"existing user in the middle", []string{"carol", "alice", "dave"}, 1, true},
		{"duplicate within batch", []string{"carol", "dave", "carol"}, 2, true},
		{"existing user last", []string{"carol", "dave", "bob"}, 2, true},
		{"invalid entry", []string{"carol", "", "dave"}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			ctx := t.Context()
			MustCreate(t, s, "alice")
			MustCreate(t, s, "bob")

			var batch []store.NewUser
			for _, name := range tt.batch {
				batch = append(batch, NewUser(name))
			}
			err := s.CreateUsers(ctx, batch, t0)

			users, lerr := s.ListUsers(ctx)
			if lerr != nil {
				t.Fatal(lerr)
			}
			if tt.wantIndex < 0 {
				if err != nil {
					t.Fatalf("CreateUsers: %v", err)
				}
				if want := 2 + len(tt.batch); len(users) != want {
					t.Errorf("%d users stored, want %d", len(users), want)
				}
				return
			}
			var be *store.BatchError
			if !errors.As(err, &be) {
				t.Fatalf("err = %v (%T), want *BatchError", err, err)
			}
			if be.Index != tt.wantIndex || be.Username != tt.batch[tt.wantIndex] {
				t.Errorf("BatchError{Index: %d, Username: %q}, want {%d, %q}", be.Index, be.Username, tt.wantIndex, tt.batch[tt.wantIndex])
			}
			if errors.Is(err, store.ErrConflict) != tt.conflict {
				t.Errorf("err = %v, want ErrConflict: %v", err, tt.conflict)
			}
			if strings.Contains(err.Error(), "$argon2id$") {
				t.Errorf("error %q reveals a hash", err)
			}
			if len(users) != 2 {
				t.Errorf("%d users stored after a failed batch, want 2 (all or nothing)", len(users))
			}
		})
	}
}

func testReplaceHash(t *testing.T, open func(t *testing.T) store.Store) {
	const newHash, newClass = "$argon2id$v=19$m=19456,t=2,p=1$bmV3$new", "argon2id$v=19$m=19456,t=2,p=1"
	t1 := t0.Add(time.Minute)
	tests := []struct {
		name     string
		id       func(u store.User) string
		oldHash  func(u store.User) string
		reset    bool // an administrator reset the password after the login read it
		wantErr  error
		wantHash func(u store.User) string
	}{
		{
			name:     "hash unchanged",
			id:       func(u store.User) string { return u.ID },
			oldHash:  func(u store.User) string { return u.PasswordHash },
			wantHash: func(store.User) string { return newHash },
		},
		{
			name:     "reset in between wins",
			id:       func(u store.User) string { return u.ID },
			oldHash:  func(u store.User) string { return u.PasswordHash },
			reset:    true,
			wantErr:  store.ErrStale,
			wantHash: func(store.User) string { return "$2b$12$reset" },
		},
		{
			name:     "wrong old hash",
			id:       func(u store.User) string { return u.ID },
			oldHash:  func(store.User) string { return "$2b$12$other" },
			wantErr:  store.ErrStale,
			wantHash: func(u store.User) string { return u.PasswordHash },
		},
		{
			name:     "unknown id",
			id:       func(store.User) string { return "ffffffffffffffffffffffffffffffff" },
			oldHash:  func(u store.User) string { return u.PasswordHash },
			wantErr:  store.ErrNotFound,
			wantHash: func(u store.User) string { return u.PasswordHash },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			ctx := t.Context()
			u := MustCreate(t, s, "alice")
			if tt.reset {
				if _, err := s.SetPassword(ctx, "alice", "$2b$12$reset", "bcrypt$12", t1); err != nil {
					t.Fatal(err)
				}
			}
			err := s.ReplaceHash(ctx, tt.id(u), tt.oldHash(u), newHash, newClass, t1)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReplaceHash = %v, want %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "$") {
				t.Errorf("error %q reveals a hash", err)
			}
			got, err := s.UserByID(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.PasswordHash != tt.wantHash(u) {
				t.Errorf("stored hash %q, want %q", got.PasswordHash, tt.wantHash(u))
			}
			if tt.wantErr == nil && (got.HashClass != newClass || !got.UpdatedAt.Equal(t1.Truncate(time.Millisecond))) {
				t.Errorf("after ReplaceHash: %+v", got)
			}
		})
	}
}

func testHashClasses(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()

	got, err := s.HashClasses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("empty store: HashClasses = %q, want none", got)
	}

	classes := []string{"bcrypt$12", "argon2id$v=19$m=19456,t=2,p=1", "bcrypt$12", "pbkdf2-sha256$29000", "bcrypt$10"}
	for i, c := range classes {
		u := NewUser(fmt.Sprintf("user%d", i))
		u.HashClass = c
		if _, err := s.CreateUser(ctx, u, t0); err != nil {
			t.Fatal(err)
		}
	}
	got, err = s.HashClasses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"argon2id$v=19$m=19456,t=2,p=1", "bcrypt$10", "bcrypt$12", "pbkdf2-sha256$29000"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("HashClasses = %q, want %q", got, want)
	}
}

// testReplaceHashRace has many logins race to rehash the same account: the
// compare-and-swap must let exactly one win.
func testReplaceHashRace(t *testing.T, open func(t *testing.T) store.Store) {
	replaceHashRace(t, open(t))
}

// replaceHashRace has the racers take turns among stores, which share one
// database.
func replaceHashRace(t *testing.T, stores ...store.Store) {
	ctx := t.Context()
	u := MustCreate(t, stores[0], "alice")

	const racers = 20
	var wg sync.WaitGroup
	results := make(chan error, racers)
	for i := range racers {
		s := stores[i%len(stores)]
		wg.Go(func() {
			results <- s.ReplaceHash(ctx, u.ID, u.PasswordHash, fmt.Sprintf("$argon2id$new%d", i), "argon2id", t0)
		})
	}
	wg.Wait()
	close(results)
	var won, stale int
	for err := range results {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrStale):
			stale++
		default:
			t.Error(err)
		}
	}
	if won != 1 || stale != racers-1 {
		t.Errorf("%d won, %d stale; want 1 and %d", won, stale, racers-1)
	}
}

func testContextCancelled(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	u := MustCreate(t, s, "alice")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"CreateUser", func() error { _, err := s.CreateUser(ctx, NewUser("bob"), t0); return err }},
		{"CreateUsers", func() error { return s.CreateUsers(ctx, []store.NewUser{NewUser("bob")}, t0) }},
		{"UserByName", func() error { _, err := s.UserByName(ctx, "alice"); return err }},
		{"UserByID", func() error { _, err := s.UserByID(ctx, u.ID); return err }},
		{"ListUsers", func() error { _, err := s.ListUsers(ctx); return err }},
		{"SetDisabled", func() error { _, err := s.SetDisabled(ctx, "alice", true, t0); return err }},
		{"SetPassword", func() error { _, err := s.SetPassword(ctx, "alice", "$x", "x", t0); return err }},
		{"ReplaceHash", func() error { return s.ReplaceHash(ctx, u.ID, u.PasswordHash, "$x", "x", t0) }},
		{"HashClasses", func() error { _, err := s.HashClasses(ctx); return err }},
		{"CreateRefreshFamily", func() error {
			_, err := s.CreateRefreshFamily(ctx, store.RefreshFamily{UserID: u.ID, CreatedAt: t0, AbsoluteExpiresAt: t0.Add(time.Hour)}, hashOf("c"), t0.Add(time.Hour), 0)
			return err
		}},
		{"RefreshFamilyByToken", func() error { _, err := s.RefreshFamilyByToken(ctx, hashOf("c")); return err }},
		{"RotateRefreshToken", func() error {
			_, err := s.RotateRefreshToken(ctx, hashOf("c"), hashOf("d"), t0, t0.Add(time.Hour))
			return err
		}},
		{"RevokeRefreshFamily", func() error { return s.RevokeRefreshFamily(ctx, "x", t0) }},
		{"RevokeUserRefreshFamilies", func() error { _, err := s.RevokeUserRefreshFamilies(ctx, u.ID, t0); return err }},
		{"RevokeJTI", func() error { return s.RevokeJTI(ctx, "j", t0) }},
		{"JTIRevoked", func() error { _, err := s.JTIRevoked(ctx, "j", t0); return err }},
		{"PurgeExpired", func() error { _, err := s.PurgeExpired(ctx, t0); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		})
	}
	got, err := s.UserByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got != u {
		t.Errorf("a cancelled call changed the account: %+v", got)
	}
}

// testDeviceEpoch checks that every change of the account's credentials or
// state (reset, disable, enable, scopes) raises the account epoch — which
// revokes device credentials and access tokens issued before — and that a
// login's rehash (the same password) does not.
func testDeviceEpoch(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	now := time.Now()
	u, err := s.CreateUser(ctx, NewUser("eve"), now)
	if err != nil {
		t.Fatal(err)
	}
	epoch := func() uint32 {
		t.Helper()
		got, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.DeviceEpoch
	}
	steps := []struct {
		name string
		do   func() error
		want uint32
	}{
		{"new account", func() error { return nil }, 0},
		{"reset", func() error { _, err := s.SetPassword(ctx, "eve", "$h2", "c", now); return err }, 1},
		{"rehash", func() error { return s.ReplaceHash(ctx, u.ID, "$h2", "$h3", "c", now) }, 1},
		{"disable", func() error { _, err := s.SetDisabled(ctx, "eve", true, now); return err }, 2},
		{"enable", func() error { _, err := s.SetDisabled(ctx, "eve", false, now); return err }, 3},
		{"scopes", func() error { return s.SetScopes(ctx, "eve", "read", now) }, 4},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := epoch(); got != st.want {
			t.Errorf("after %s: epoch %d, want %d", st.name, got, st.want)
		}
	}
}

// testScopes checks that an account starts with no scopes granted, that
// SetScopes replaces them and that an unknown account is ErrNotFound.
func testScopes(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	u := MustCreate(t, s, "sam")
	if u.Scopes != "" {
		t.Fatalf("new account scopes %q, want none", u.Scopes)
	}
	for _, want := range []string{"read billing:write", "read", ""} {
		if err := s.SetScopes(ctx, "sam", want, t0); err != nil {
			t.Fatal(err)
		}
		got, err := s.UserByName(ctx, "sam")
		if err != nil {
			t.Fatal(err)
		}
		if got.Scopes != want {
			t.Errorf("scopes %q, want %q", got.Scopes, want)
		}
		list, err := s.ListUsers(ctx)
		if err != nil || len(list) != 1 || list[0].Scopes != want {
			t.Errorf("ListUsers = %+v, %v; want scopes %q", list, err, want)
		}
	}
	if err := s.SetScopes(ctx, "nobody", "read", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetScopes(unknown) = %v, want ErrNotFound", err)
	}
}

func testRefreshRotation(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	u := MustCreate(t, s, "alice")
	f := newFamily(t, s, u.ID, "tok-0")
	if f.ID == "" || f.JKT != "jkt-1" || !f.CreatedAt.Equal(t0.Truncate(time.Millisecond)) {
		t.Fatalf("family %+v", f)
	}
	got, err := s.RefreshFamilyByToken(ctx, hashOf("tok-0"))
	if err != nil || got != f {
		t.Fatalf("RefreshFamilyByToken = %+v, %v; want %+v", got, err, f)
	}
	now := t0.Add(time.Hour)
	steps := []struct {
		name     string
		old, new string
		now      time.Time
		want     error
	}{
		{"first rotation", "tok-0", "tok-1", now, nil},
		{"second rotation", "tok-1", "tok-2", now.Add(time.Minute), nil},
		{"unknown token", "tok-x", "tok-y", now, store.ErrNotFound},
		{"idle expiry", "tok-2", "tok-3", now.Add(8 * 24 * time.Hour), store.ErrExpired},
		{"reuse of tok-0 revokes the family", "tok-0", "tok-9", now.Add(2 * time.Minute), store.ErrReused},
		{"the newest token is dead too", "tok-2", "tok-3", now.Add(3 * time.Minute), store.ErrRevoked},
		{"reuse after revocation", "tok-1", "tok-4", now.Add(4 * time.Minute), store.ErrRevoked},
	}
	for _, st := range steps {
		fam, err := s.RotateRefreshToken(ctx, hashOf(st.old), hashOf(st.new), st.now, st.now.Add(7*24*time.Hour))
		if !errors.Is(err, st.want) || (st.want == nil && err != nil) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.want)
		}
		if st.want == nil && fam.ID != f.ID {
			t.Errorf("%s: family %q, want %q", st.name, fam.ID, f.ID)
		}
		if errors.Is(st.want, store.ErrReused) && fam.RevokedAt.IsZero() {
			t.Errorf("%s: returned family not marked revoked", st.name)
		}
	}
	if _, err := s.RefreshFamilyByToken(ctx, hashOf("tok-9")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token minted during reuse exists: %v", err)
	}

	// Absolute expiry caps the idle one.
	g := newFamily(t, s, u.ID, "abs-0")
	if _, err := s.RotateRefreshToken(ctx, hashOf("abs-0"), hashOf("abs-1"), t0.Add(6*24*time.Hour), t0.Add(13*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateRefreshToken(ctx, hashOf("abs-1"), hashOf("abs-2"), g.AbsoluteExpiresAt, g.AbsoluteExpiresAt.Add(time.Hour)); !errors.Is(err, store.ErrExpired) {
		t.Errorf("past absolute expiry: %v", err)
	}
}

func testRefreshRevocation(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	alice, bob := MustCreate(t, s, "alice"), MustCreate(t, s, "bob")
	a1 := newFamily(t, s, alice.ID, "a1")
	newFamily(t, s, alice.ID, "a2")
	newFamily(t, s, bob.ID, "b1")
	if err := s.RevokeRefreshFamily(ctx, a1.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeRefreshFamily(ctx, a1.ID, t0.Add(time.Hour)); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if f, _ := s.RefreshFamilyByToken(ctx, hashOf("a1")); !f.RevokedAt.Equal(t0.Add(time.Minute).Truncate(time.Millisecond)) {
		t.Errorf("first revocation time not kept: %v", f.RevokedAt)
	}
	if err := s.RevokeRefreshFamily(ctx, "nope", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown family: %v", err)
	}
	n, err := s.RevokeUserRefreshFamilies(ctx, alice.ID, t0.Add(2*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("RevokeUserRefreshFamilies = %d, %v; want 1 (a2)", n, err)
	}
	for _, tt := range []struct {
		tok  string
		want error
	}{{"a1", store.ErrRevoked}, {"a2", store.ErrRevoked}, {"b1", nil}} {
		if _, err := s.RotateRefreshToken(ctx, hashOf(tt.tok), hashOf(tt.tok+"'"), t0.Add(time.Hour), t0.Add(48*time.Hour)); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", tt.tok, err, tt.want)
		}
	}
	purged, err := s.PurgeExpired(ctx, t0.Add(31*24*time.Hour))
	if err != nil || purged != 3 {
		t.Errorf("PurgeExpired = %d, %v; want 3", purged, err)
	}
	if _, err := s.RefreshFamilyByToken(ctx, hashOf("b1'")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("purged family's token still there: %v", err)
	}
}

// testRefreshFamiliesCappedPerUser: a login beyond the cap revokes the
// user's oldest live families in the same transaction, never the new one
// (even when it was created in the same millisecond as the others), never
// another user's, and families already revoked or expired do not count.
func testRefreshFamiliesCappedPerUser(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	alice, bob := MustCreate(t, s, "alice"), MustCreate(t, s, "bob")
	const maxLive = 3
	create := func(userID, tok string, at time.Time, ttl time.Duration) store.RefreshFamily {
		t.Helper()
		f, err := s.CreateRefreshFamily(ctx, store.RefreshFamily{UserID: userID, CreatedAt: at, AbsoluteExpiresAt: at.Add(ttl)}, hashOf(tok), at.Add(ttl), maxLive)
		if err != nil {
			t.Fatalf("CreateRefreshFamily %s: %v", tok, err)
		}
		return f
	}
	live := func(tok string, at time.Time) bool {
		t.Helper()
		f, err := s.RefreshFamilyByToken(ctx, hashOf(tok))
		if err != nil {
			t.Fatalf("%s: %v", tok, err)
		}
		return f.RevokedAt.IsZero() && f.AbsoluteExpiresAt.After(at)
	}
	// A short-lived family that has expired by the later logins, and a
	// revoked one: neither counts.
	create(alice.ID, "expired", t0, time.Minute)
	gone := create(alice.ID, "revoked", t0, time.Hour)
	if err := s.RevokeRefreshFamily(ctx, gone.ID, t0); err != nil {
		t.Fatal(err)
	}
	create(bob.ID, "bob", t0, time.Hour)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Hour / 10) }
	for i, tok := range []string{"a1", "a2", "a3"} {
		create(alice.ID, tok, at(i+1), time.Hour)
	}
	steps := []struct {
		tok  string
		at   time.Time
		live []string
		dead []string
	}{
		{"a4", at(4), []string{"a2", "a3", "a4"}, []string{"a1"}},
		// Same millisecond as a4: the new family survives.
		{"a5", at(4), []string{"a4", "a5"}, []string{"a1", "a2"}},
		{"a6", at(5), []string{"a4", "a5", "a6"}, []string{"a1", "a2", "a3"}},
	}
	for _, st := range steps {
		create(alice.ID, st.tok, st.at, time.Hour)
		n := 0
		for _, tok := range st.live {
			if !live(tok, st.at) {
				t.Errorf("after %s: %s revoked, want live", st.tok, tok)
			}
		}
		for _, tok := range st.dead {
			if live(tok, st.at) {
				t.Errorf("after %s: %s live, want revoked (oldest beyond the cap)", st.tok, tok)
			}
		}
		for _, tok := range []string{"a1", "a2", "a3", "a4", "a5", "a6"} {
			if f, err := s.RefreshFamilyByToken(ctx, hashOf(tok)); err == nil && f.RevokedAt.IsZero() {
				n++
			}
		}
		if n > maxLive {
			t.Errorf("after %s: %d live families, cap %d", st.tok, n, maxLive)
		}
	}
	if !live("bob", t0) {
		t.Error("another user's family was revoked")
	}
	// A cap of zero or less does not cap.
	for i := range maxLive + 2 {
		if _, err := s.CreateRefreshFamily(ctx, store.RefreshFamily{UserID: bob.ID, CreatedAt: t0, AbsoluteExpiresAt: t0.Add(time.Hour)}, hashOf(fmt.Sprint("b", i)), t0.Add(time.Hour), 0); err != nil {
			t.Fatal(err)
		}
	}
	if !live("bob", t0) {
		t.Error("an uncapped login revoked a family")
	}
}

// testRefreshRotationRace redeems one token from many goroutines at once:
// exactly one wins, and the others are reuse that revokes the family.
func testRefreshRotationRace(t *testing.T, open func(t *testing.T) store.Store) {
	refreshRotationRace(t, open(t))
}

// refreshRotationRace has the redemptions take turns among stores, which
// share one database.
func refreshRotationRace(t *testing.T, stores ...store.Store) {
	u := MustCreate(t, stores[0], "alice")
	newFamily(t, stores[0], u.ID, "race")
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		s := stores[i%len(stores)]
		wg.Go(func() {
			_, errs[i] = s.RotateRefreshToken(t.Context(), hashOf("race"), hashOf("race-"+string(rune('a'+i))), t0.Add(time.Hour), t0.Add(48*time.Hour))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrReused), errors.Is(err, store.ErrRevoked):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d redemptions succeeded, want exactly 1", ok)
	}
}

func testRevokedJTIs(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	exp := t0.Add(15 * time.Minute)
	if err := s.RevokeJTI(ctx, "j1", exp); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeJTI(ctx, "j1", t0.Add(time.Minute)); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := s.RevokeJTI(ctx, "", exp); err == nil {
		t.Error("empty jti accepted")
	}
	for _, tt := range []struct {
		jti  string
		now  time.Time
		want bool
	}{
		{"j1", t0, true},
		{"j1", t0.Add(10 * time.Minute), true}, // the earlier expiry of the second call did not shorten it
		{"j1", exp, false},
		{"j2", t0, false},
	} {
		got, err := s.JTIRevoked(ctx, tt.jti, tt.now)
		if err != nil || got != tt.want {
			t.Errorf("JTIRevoked(%s, %v) = %v, %v; want %v", tt.jti, tt.now, got, err, tt.want)
		}
	}
	n, err := s.PurgeExpired(ctx, exp)
	if err != nil || n != 1 {
		t.Errorf("PurgeExpired = %d, %v; want 1", n, err)
	}
}

// testConcurrentWriters runs 50 writers on one store with readers
// alongside: every write must land and no reader may fail while they queue.
func testConcurrentWriters(t *testing.T, open func(t *testing.T) store.Store) {
	concurrentWriters(t, open(t))
}

// concurrentWriters has the writers and readers take turns among stores,
// which share one database.
func concurrentWriters(t *testing.T, stores ...store.Store) {
	ctx := t.Context()

	const writers = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for i := range writers {
		s := stores[i%len(stores)]
		wg.Go(func() {
			if _, err := s.CreateUser(ctx, NewUser(fmt.Sprintf("user%02d", i)), t0); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			if _, err := s.ListUsers(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	users, err := stores[0].ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != writers {
		t.Errorf("%d users stored, want %d", len(users), writers)
	}
}
