package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustKEK(t *testing.T, fill byte) *KEK {
	t.Helper()
	k, err := NewKEK(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := mustKEK(t, 1)
	secret := []byte("the device HMAC key, 32 bytes..!")
	blob, err := k.Seal(rand.Reader, "device.key", secret)
	if err != nil {
		t.Fatal(err)
	}
	if len(blob) != len(secret)+Overhead {
		t.Errorf("blob of %d bytes, want %d", len(blob), len(secret)+Overhead)
	}
	if bytes.Contains(blob, secret) {
		t.Fatal("plaintext visible in the blob")
	}
	got, err := k.Open("device.key", blob)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, _ := k.Seal(rand.Reader, "device.key", secret)
	if bytes.Equal(again, blob) {
		t.Error("two seals of one secret are equal: nonce not random")
	}

	other := mustKEK(t, 2)
	flip := func(i int) []byte { b := bytes.Clone(blob); b[i] ^= 1; return b }
	tests := []struct {
		name string
		kek  *KEK
		key  string
		blob []byte
		want error
	}{
		{"wrong KEK", other, "device.key", blob, ErrWrongKEK},
		{"swapped name", k, "challenge.key", blob, ErrAuth},
		{"empty", k, "device.key", nil, ErrMalformed},
		{"truncated", k, "device.key", blob[:Overhead-1], ErrMalformed},
		{"tag cut", k, "device.key", blob[:len(blob)-1], ErrAuth},
		{"garbage", k, "device.key", bytes.Repeat([]byte{0xff}, 64), ErrMalformed},
		{"unknown version", k, "device.key", flip(0), ErrMalformed},
		{"altered KEK id", k, "device.key", flip(1), ErrWrongKEK},
		{"altered nonce", k, "device.key", flip(1 + idSize), ErrAuth},
		{"altered ciphertext", k, "device.key", flip(header), ErrAuth},
		{"altered tag", k, "device.key", flip(len(blob) - 1), ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.kek.Open(tt.key, tt.blob)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("Open = %q, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := other.Open("device.key", blob); !strings.Contains(err.Error(), "sealed with another key-encryption key") {
		t.Errorf("wrong-KEK message %q does not say what is wrong", err)
	}
}

func TestKeyring(t *testing.T) {
	old, cur := mustKEK(t, 1), mustKEK(t, 2)
	oldBlob, _ := old.Seal(rand.Reader, "k", []byte("s"))
	curBlob, _ := cur.Seal(rand.Reader, "k", []byte("s"))

	r, err := NewKeyring(cur, old)
	if err != nil {
		t.Fatal(err)
	}
	if pt, stale, err := r.Open("k", oldBlob); err != nil || !stale || string(pt) != "s" {
		t.Errorf("previous-KEK blob: %q stale=%v %v; want opened and stale", pt, stale, err)
	}
	if pt, stale, err := r.Open("k", curBlob); err != nil || stale || string(pt) != "s" {
		t.Errorf("current-KEK blob: %q stale=%v %v", pt, stale, err)
	}
	resealed, _ := r.Seal(rand.Reader, "k", []byte("s"))
	if id, _ := BlobKEK(resealed); id != cur.ID() {
		t.Errorf("sealed under %s, want the current KEK %s", id, cur.ID())
	}
	only, _ := NewKeyring(cur, nil)
	if _, _, err := only.Open("k", oldBlob); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("without the previous KEK: %v, want ErrWrongKEK", err)
	}
	if _, err := NewKeyring(nil, old); err == nil {
		t.Error("keyring without a current KEK accepted")
	}
}

func TestParseKEK(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb}, KeySize) // 0xfb makes + and / in std base64
	want := mustKEK(t, 0xfb).ID()
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"std", base64.StdEncoding.EncodeToString(raw), true},
		{"std with newline", base64.StdEncoding.EncodeToString(raw) + "\n", true},
		{"raw std", base64.RawStdEncoding.EncodeToString(raw), true},
		{"url", base64.URLEncoding.EncodeToString(raw), true},
		{"raw url", base64.RawURLEncoding.EncodeToString(raw), true},
		{"short", base64.StdEncoding.EncodeToString(raw[:16]), false},
		{"long", base64.StdEncoding.EncodeToString(append(raw, 0)), false},
		{"not base64", "correct horse battery staple!!", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKEK(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("ParseKEK: %v, want ok=%v", err, tt.ok)
			}
			if err == nil && k.ID() != want {
				t.Errorf("id %s, want %s", k.ID(), want)
			}
			if err != nil && tt.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, KeySize)
	want := mustKEK(t, 7).ID()
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		ok   bool
		want string
	}{
		{"raw 0600", write("raw", raw, 0o600), true, ""},
		{"base64 0400", write("b64", []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o400), true, ""},
		{"group readable", write("g", raw, 0o640), false, "chmod 600"},
		{"world readable", write("w", raw, 0o604), false, "chmod 600"},
		{"wrong size", write("short", raw[:31], 0o600), false, "base64"},
		{"missing", filepath.Join(dir, "nope"), false, "no such file"},
		{"directory", dir, false, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := LoadFile(tt.path)
			if tt.ok != (err == nil) {
				t.Fatalf("LoadFile: %v, want ok=%v", err, tt.ok)
			}
			if err == nil && k.ID() != want {
				t.Errorf("id %s, want %s", k.ID(), want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestKEKNeverPrinted checks every way a KEK might reach a log or an
// error message shows its id, never its bytes.
func TestKEKNeverPrinted(t *testing.T) {
	raw := bytes.Repeat([]byte{0x41}, KeySize) // "AAAA..." if printed
	k, err := NewKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "kek", k, "kekv", *k)
	outs := []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v", k, *k, k), fmt.Sprintf("%#v", *k), logged.String()}
	for _, out := range outs {
		if strings.Contains(out, string(raw[:8])) || strings.Contains(out, base64.StdEncoding.EncodeToString(raw)[:8]) || strings.Contains(out, fmt.Sprint(raw[:8])) {
			t.Errorf("KEK bytes printed: %s", out)
		}
		if !strings.Contains(out, k.ID()) {
			t.Errorf("output %q does not name the KEK id", out)
		}
	}
}
