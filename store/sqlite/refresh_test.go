package sqlite

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/credshield/credshield/store"
)

// hashOf is the stored form of a test refresh token.
func hashOf(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func newFamily(t *testing.T, s *Store, userID, tok string) store.RefreshFamily {
	t.Helper()
	f, err := s.CreateRefreshFamily(t.Context(), store.RefreshFamily{
		UserID: userID, ClientID: "cli", Scope: "read", JKT: "jkt-1",
		CreatedAt: t0, AbsoluteExpiresAt: t0.Add(30 * 24 * time.Hour),
	}, hashOf(tok), t0.Add(7*24*time.Hour))
	if err != nil {
		t.Fatalf("CreateRefreshFamily: %v", err)
	}
	return f
}

func TestRefreshRotation(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	u := mustCreate(t, s, "alice")
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

func TestRefreshRevocation(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	alice, bob := mustCreate(t, s, "alice"), mustCreate(t, s, "bob")
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

// TestRefreshRotationRace redeems one token from many goroutines at once:
// exactly one wins, and the others are reuse that revokes the family.
func TestRefreshRotationRace(t *testing.T) {
	s, _ := openTest(t)
	u := mustCreate(t, s, "alice")
	newFamily(t, s, u.ID, "race")
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
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

func TestRevokedJTIs(t *testing.T) {
	s, _ := openTest(t)
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
