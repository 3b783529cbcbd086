package token

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadOrCreateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	ks, err := LoadOrCreate(t.Context(), Dir(dir), EdDSA, rand.Reader, testNow)
	if err != nil {
		t.Fatal(err)
	}
	k := ks.Active()
	if k == nil || k.Alg != EdDSA || !k.Created.Equal(testNow) {
		t.Fatalf("active = %+v", k)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("dir: %v, %v; want mode 0700", info.Mode(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != k.ID+".pem" {
		t.Fatalf("dir holds %v, want only %s.pem", entries, k.ID)
	}
	info, err := os.Stat(filepath.Join(dir, k.ID+".pem"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", info.Mode(), err)
	}
	data, err := os.ReadFile(filepath.Join(dir, k.ID+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-----BEGIN PRIVATE KEY-----", "Alg: EdDSA", "Created: 2026-03-01T12:00:00Z"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("key file lacks %q:\n%s", want, data)
		}
	}

	// Reload: same key, nothing new written.
	again, err := LoadOrCreate(t.Context(), Dir(dir), EdDSA, rand.Reader, testNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if again.Active().ID != k.ID || len(again.Keys()) != 1 {
		t.Fatalf("reload: active %s of %d keys, want %s of 1", again.Active().ID, len(again.Keys()), k.ID)
	}
	raw, err := ks.Sign(validClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testVerifier(again).Verify(testNow, raw); err != nil {
		t.Fatalf("token from the first load does not verify after reload: %v", err)
	}

	// Another algorithm: a new key, active; the old one stays verifiable and
	// in the JWKS.
	es, err := LoadOrCreate(t.Context(), Dir(dir), ES256, rand.Reader, testNow.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if es.Active().Alg != ES256 || len(es.Keys()) != 2 {
		t.Fatalf("active %s of %d keys", es.Active().Alg, len(es.Keys()))
	}
	if _, err := testVerifier(es).Verify(testNow, raw); err != nil {
		t.Fatalf("EdDSA token after adding ES256: %v", err)
	}
	jwks, err := es.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, jk := range set.Keys {
		got[jk["kid"].(string)] = jk["alg"].(string)
		if jk["use"] != "sig" {
			t.Errorf("use = %v", jk["use"])
		}
		if _, ok := jk["d"]; ok {
			t.Errorf("JWKS holds private key material: %s", jwks)
		}
	}
	if got[k.ID] != EdDSA || got[es.Active().ID] != ES256 || len(got) != 2 {
		t.Errorf("JWKS kids = %v", got)
	}
	if bytes.Contains(jwks, []byte(`"d"`)) || !bytes.Contains(jwks, []byte(`"crv":"Ed25519"`)) || !bytes.Contains(jwks, []byte(`"crv":"P-256"`)) {
		t.Errorf("JWKS = %s", jwks)
	}
	// Asking for EdDSA again makes the EdDSA key active again, not a new one.
	back, err := LoadOrCreate(t.Context(), Dir(dir), EdDSA, rand.Reader, testNow.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if back.Active().ID != k.ID || len(back.Keys()) != 2 {
		t.Errorf("back to EdDSA: active %s of %d keys", back.Active().ID, len(back.Keys()))
	}
	if pub, alg, ok := back.PublicKey(es.Active().ID); !ok || alg != ES256 || pub == nil {
		t.Errorf("PublicKey(es kid) = %v, %q, %v", pub, alg, ok)
	}
	if _, _, ok := back.PublicKey("../" + k.ID); ok {
		t.Error("lookup matched a path")
	}
}

func TestLoadOrCreateNewestActive(t *testing.T) {
	dir := t.TempDir()
	keys := keysForTest(t)
	older, err := GenerateKey(rand.Reader, EdDSA, testNow.Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*Key{older, keys.ed} {
		if err := writeKeyFile(dir, k); err != nil {
			t.Fatal(err)
		}
	}
	ks, err := LoadOrCreate(t.Context(), Dir(dir), EdDSA, rand.Reader, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if ks.Active().ID != keys.ed.ID {
		t.Errorf("active = %s, want the newest %s", ks.Active().ID, keys.ed.ID)
	}
	if list := ks.Keys(); len(list) != 2 || list[0].ID != older.ID {
		t.Errorf("Keys not oldest first: %v", list)
	}
}

func TestLoadOrCreateRefuses(t *testing.T) {
	keys := keysForTest(t)
	good, err := marshalKeyFile(keys.ed)
	if err != nil {
		t.Fatal(err)
	}
	name := keys.ed.ID + ".pem"
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // in the error
	}{
		{"world-readable key", func(t *testing.T, dir string) { write(t, dir, name, good, 0o644) }, "chmod 600"},
		{"group-readable key", func(t *testing.T, dir string) { write(t, dir, name, good, 0o640) }, "group or others"},
		{"named for another key", func(t *testing.T, dir string) { write(t, dir, "other.pem", good, 0o600) }, "should be named"},
		{"not pem", func(t *testing.T, dir string) { write(t, dir, name, []byte("hello"), 0o600) }, "no PRIVATE KEY"},
		{"no created header", func(t *testing.T, dir string) {
			write(t, dir, name, bytes.Replace(good, []byte("Created"), []byte("Made"), 1), 0o600)
		}, "created header"},
		{"alg header does not suit the key", func(t *testing.T, dir string) {
			write(t, dir, name, bytes.Replace(good, []byte("Alg: EdDSA"), []byte("Alg: RS256"), 1), 0o600)
		}, "unsupported algorithm"},
		{"symlink", func(t *testing.T, dir string) {
			target := filepath.Join(t.TempDir(), "k")
			write(t, filepath.Dir(target), "k", good, 0o600)
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"group-writable dir", func(t *testing.T, dir string) {
			if err := os.Chmod(dir, 0o770); err != nil {
				t.Fatal(err)
			}
		}, "chmod 700"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			_, err := LoadOrCreate(t.Context(), Dir(dir), EdDSA, rand.Reader, testNow)
			if !errors.Is(err, ErrKeyFile) && !errors.Is(err, ErrUnsupportedAlg) {
				t.Fatalf("err = %v, want a key file error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := LoadOrCreate(t.Context(), Dir(t.TempDir()), "HS256", rand.Reader, testNow); !errors.Is(err, ErrUnsupportedAlg) {
		t.Errorf("HS256: err = %v", err)
	}
}

// Temporary files and other names are not key files.
func TestLoadOrCreateIgnoresOtherFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, ".abc.tmp-123", []byte("partial"), 0o644)
	write(t, dir, "README", []byte("keys live here"), 0o644)
	if _, err := LoadOrCreate(t.Context(), Dir(dir), EdDSA, rand.Reader, testNow); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, dir, name string, data []byte, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask may have narrowed it
		t.Fatal(err)
	}
}

func TestGenerateKey(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256} {
		k, err := GenerateKey(rand.Reader, alg, testNow.Add(1500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if !k.Created.Equal(testNow.Add(time.Second)) || k.Alg != alg || len(k.ID) != 43 {
			t.Errorf("%s: %+v", alg, k)
		}
		sig, err := signInput(k, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != 64 {
			t.Errorf("%s signature is %d bytes, want 64", alg, len(sig))
		}
	}
	if _, err := GenerateKey(rand.Reader, "none", testNow); !errors.Is(err, ErrUnsupportedAlg) {
		t.Errorf("none: err = %v", err)
	}
}

func TestECDSARawSignature(t *testing.T) {
	for _, tc := range []struct {
		name string
		der  []byte
		want []byte // nil: error
	}{
		{"short r and s", []byte{0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07}, append(append(make([]byte, 31), 5), append(make([]byte, 31), 7)...)},
		{"leading zero", []byte{0x30, 0x07, 0x02, 0x02, 0x00, 0x85, 0x02, 0x01, 0x07}, append(append(make([]byte, 31), 0x85), append(make([]byte, 31), 7)...)},
		{"trailing data", []byte{0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07, 0x00}, nil},
		{"too large", append([]byte{0x30, 0x26, 0x02, 0x21}, append(bytes.Repeat([]byte{1}, 33), 0x02, 0x01, 0x07)...), nil},
	} {
		got, err := ecdsaRawSignature(tc.der, 32)
		if (tc.want == nil) != (err != nil) || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: got %x, %v; want %x", tc.name, got, err, tc.want)
		}
	}
}

// jwksKIDs returns the kids the JWKS publishes.
func jwksKIDs(t *testing.T, ks *KeySet) []string {
	t.Helper()
	b, err := ks.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	return kids
}

func sorted(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func signedBy(t *testing.T, ks *KeySet, iat time.Time) string {
	t.Helper()
	c := validClaims()
	c.IssuedAt, c.ExpiresAt = iat, iat.Add(15*time.Minute)
	raw, err := ks.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	seg, _ := splitCompact(raw)
	hdr, _ := decodeSegment(make([]byte, 200), seg.header)
	h, err := parseHeader(string(hdr))
	if err != nil {
		t.Fatal(err)
	}
	return h.kid
}

func TestStagedRotation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	const lead, retire = 10 * time.Minute, 16 * time.Minute // retire: access TTL 15m + leeway
	t0 := testNow
	ks, err := LoadOrCreate(t.Context(), Dir(dir), EdDSA, rand.Reader, t0)
	if err != nil {
		t.Fatal(err)
	}
	k0 := ks.ActiveAt(t0)
	oldToken := func() string {
		c := validClaims()
		c.IssuedAt, c.ExpiresAt = t0.Add(time.Hour), t0.Add(time.Hour+15*time.Minute)
		raw, err := ks.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}()

	// Stage k1 an hour later: published at once, signs after the lead.
	t1 := t0.Add(time.Hour)
	k1, removed, err := Rotate(t.Context(), Dir(dir), EdDSA, rand.Reader, t1, t1.Add(lead), retire, nil)
	if err != nil || len(removed) != 0 {
		t.Fatalf("Rotate: %v, removed %v", err, removed)
	}
	if !k1.NotBefore.Equal(t1.Add(lead)) || !k1.Created.Equal(t1) {
		t.Fatalf("staged key: created %v, not before %v", k1.Created, k1.NotBefore)
	}
	steps := []struct {
		name    string
		now     time.Time
		signer  string   // kid signing a token issued at now
		jwks    []string // kids published after Reload(now)
		oldOK   bool     // the token k0 signed at t1 still verifies
		removed bool     // the k0 file is gone after a rotation at now
	}{
		{"staged: published before it signs", t1, k0.ID, sorted(k0.ID, k1.ID), true, false},
		{"just before the switch", t1.Add(lead - time.Second), k0.ID, sorted(k0.ID, k1.ID), true, false},
		{"switched", t1.Add(lead), k1.ID, sorted(k0.ID, k1.ID), true, false},
		{"old key kept while its tokens live", t1.Add(lead + retire - time.Second), k1.ID, sorted(k0.ID, k1.ID), true, false},
		{"old key retired", t1.Add(lead + retire), k1.ID, []string{k1.ID}, false, false},
	}
	for _, st := range steps {
		if err := ks.Reload(t.Context(), st.now, retire); err != nil {
			t.Fatalf("%s: Reload: %v", st.name, err)
		}
		if got := signedBy(t, ks, st.now); got != st.signer {
			t.Errorf("%s: signed by %s, want %s", st.name, got, st.signer)
		}
		if got := jwksKIDs(t, ks); !slices.Equal(got, st.jwks) {
			t.Errorf("%s: JWKS %v, want %v", st.name, got, st.jwks)
		}
		// The old token is checked at its own issue time: what matters is
		// whether its key is still there.
		_, err := testVerifier(ks).Verify(t1, oldToken)
		if (err == nil) != st.oldOK {
			t.Errorf("%s: old token err = %v, want ok %v", st.name, err, st.oldOK)
		}
	}

	// The next rotation deletes the retired file; --now signs at once.
	t2 := t1.Add(2 * time.Hour)
	k2, removed, err := Rotate(t.Context(), Dir(dir), EdDSA, rand.Reader, t2, t2, retire, nil)
	if err != nil || !slices.Equal(removed, []string{k0.ID}) {
		t.Fatalf("Rotate --now: %v, removed %v; want %s", err, removed, k0.ID)
	}
	if _, err := os.Stat(filepath.Join(dir, k0.ID+".pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("retired key file still there: %v", err)
	}
	if err := ks.Reload(t.Context(), t2, retire); err != nil {
		t.Fatal(err)
	}
	if got := signedBy(t, ks, t2); got != k2.ID {
		t.Errorf("after --now: signed by %s, want %s", got, k2.ID)
	}
	if got := jwksKIDs(t, ks); !slices.Equal(got, sorted(k1.ID, k2.ID)) {
		t.Errorf("after --now: JWKS %v, want k1 and k2", got)
	}

	// The files round-trip NotBefore; a file without it signs from Created.
	loaded, err := Load(t.Context(), Dir(dir), EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range loaded.Keys() {
		if k.ID == k1.ID && !k.NotBefore.Equal(k1.NotBefore) {
			t.Errorf("NotBefore not kept: %v", k.NotBefore)
		}
	}
	data, err := marshalKeyFile(k1)
	if err != nil {
		t.Fatal(err)
	}
	legacy := strings.Replace(string(data), "NotBefore: "+k1.NotBefore.Format(time.RFC3339)+"\n", "", 1)
	old, err := parseKeyFile([]byte(legacy))
	if err != nil || !old.NotBefore.Equal(old.Created) || strings.Contains(legacy, "NotBefore") {
		t.Errorf("legacy key file: %v, not before %v, created %v", err, old.NotBefore, old.Created)
	}
}
