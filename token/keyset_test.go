package token

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadOrCreateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	ks, err := LoadOrCreate(dir, EdDSA, rand.Reader, testNow)
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
	again, err := LoadOrCreate(dir, EdDSA, rand.Reader, testNow.Add(time.Hour))
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
	es, err := LoadOrCreate(dir, ES256, rand.Reader, testNow.Add(2*time.Hour))
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
	back, err := LoadOrCreate(dir, EdDSA, rand.Reader, testNow.Add(3*time.Hour))
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
	ks, err := LoadOrCreate(dir, EdDSA, rand.Reader, testNow)
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
			_, err := LoadOrCreate(dir, EdDSA, rand.Reader, testNow)
			if !errors.Is(err, ErrKeyFile) && !errors.Is(err, ErrUnsupportedAlg) {
				t.Fatalf("err = %v, want a key file error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := LoadOrCreate(t.TempDir(), "HS256", rand.Reader, testNow); !errors.Is(err, ErrUnsupportedAlg) {
		t.Errorf("HS256: err = %v", err)
	}
}

// Temporary files and other names are not key files.
func TestLoadOrCreateIgnoresOtherFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, ".abc.tmp-123", []byte("partial"), 0o644)
	write(t, dir, "README", []byte("keys live here"), 0o644)
	if _, err := LoadOrCreate(dir, EdDSA, rand.Reader, testNow); err != nil {
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
