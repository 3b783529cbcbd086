package config

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credshield/credshield/internal/seal"
)

func TestKEKLoad(t *testing.T) {
	raw := bytes.Repeat([]byte{3}, seal.KeySize)
	b64 := base64.StdEncoding.EncodeToString(raw)
	want, _ := seal.NewKEK(raw)
	prevRaw := bytes.Repeat([]byte{4}, seal.KeySize)
	wantPrev, _ := seal.NewKEK(prevRaw)
	dir := t.TempDir()
	file := filepath.Join(dir, "kek")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	prevFile := filepath.Join(dir, "prev")
	if err := os.WriteFile(prevFile, prevRaw, 0o600); err != nil {
		t.Fatal(err)
	}
	loose := filepath.Join(dir, "loose")
	if err := os.WriteFile(loose, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		kek      KEK
		env      map[string]string
		cur      string // wanted current KEK id; "" for no keyring
		prev     string
		errWords string
	}{
		{"none", KEK{}, nil, "", "", ""},
		{"env", KEK{}, map[string]string{EnvKEK: b64}, want.ID(), "", ""},
		{"empty env is unset", KEK{}, map[string]string{EnvKEK: ""}, "", "", ""},
		{"file", KEK{File: file}, nil, want.ID(), "", ""},
		{"file and previous env", KEK{File: file}, map[string]string{EnvKEKPrevious: base64.StdEncoding.EncodeToString(prevRaw)}, want.ID(), wantPrev.ID(), ""},
		{"env and previous file", KEK{PreviousFile: prevFile}, map[string]string{EnvKEK: b64}, want.ID(), wantPrev.ID(), ""},
		{"file and env", KEK{File: file}, map[string]string{EnvKEK: b64}, "", "", "both set"},
		{"previous without current", KEK{PreviousFile: prevFile}, nil, "", "", "no current one"},
		{"bad env", KEK{}, map[string]string{EnvKEK: "short"}, "", "", EnvKEK},
		{"loose file", KEK{File: loose}, nil, "", "", "chmod 600"},
		{"missing file", KEK{File: filepath.Join(dir, "nope")}, nil, "", "", "--kek-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.kek.Load(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.errWords != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errWords) {
					t.Fatalf("Load: %v, want an error mentioning %q", err, tt.errWords)
				}
				if strings.Contains(err.Error(), b64[:10]) {
					t.Errorf("error quotes the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.cur == "" {
				if r != nil {
					t.Fatalf("keyring %v, want none", r.Current())
				}
				return
			}
			if r == nil || r.Current().ID() != tt.cur {
				t.Fatalf("current KEK %v, want %s", r, tt.cur)
			}
			if got := r.Previous(); (tt.prev == "") != (got == nil) || (got != nil && got.ID() != tt.prev) {
				t.Errorf("previous KEK %v, want %q", got, tt.prev)
			}
		})
	}
	if !strings.Contains(ErrNoKEK.Error(), EnvKEK) || !strings.Contains(ErrNoKEK.Error(), "--kek-file") {
		t.Errorf("ErrNoKEK does not name both ways to set a KEK: %v", ErrNoKEK)
	}
}
