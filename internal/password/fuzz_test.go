package password

import (
	"errors"
	"strings"
	"testing"
)

// FuzzCheck feeds arbitrary strings to Check, and to Verify when Check says
// the cost is small: neither may panic, every error wraps a sentinel, and an
// accepted hash has a canonical class that Calibrate's parser accepts.
func FuzzCheck(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.Hash)
	}
	for _, s := range []string{
		"", "$", "$$$$", "$2", "$2b$", "$2b$04$", "$argon2id$", "$argon2id$v=19$",
		"$argon2id$v=19$m=64,t=1,p=0$c29tZXNhbHQ$QWLzI4TY9HkL2ZTLc8g6Sg",
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$QWLzI4TY9HkL2ZTLc8g6Sg",
		"$argon2id$v=19$m=4294967295,t=4294967295,p=255$c29tZXNhbHQ$QWLzI4TY9HkL2ZTLc8g6Sg",
		"$bcrypt-sha256$v=2,t=2b,r=4$5Hg1DKFqPE8C2aflZ5vVoe$12BjNE0p7axMg55.Y/mHsYiVuFBDQyu",
		"$2b$04$" + tBcr,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		class, err := Check(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrCostOutOfRange) {
				t.Fatalf("Check error %v wraps no sentinel", err)
			}
			return
		}
		if !strings.HasPrefix(s, class) {
			t.Fatalf("class %q is not a prefix of %q", class, s)
		}
		h, err := parseClass(class)
		if err != nil || h.class != class {
			t.Fatalf("parseClass(%q) = %v", class, err)
		}
		h, err = parse(s)
		if err != nil {
			t.Fatalf("parse failed after Check passed: %v", err)
		}
		// Keep each input cheap: verify only small costs.
		small := (h.scheme == schemeBcrypt || h.scheme == schemeBcryptSHA256) && h.cost <= 5 ||
			(h.scheme == schemeArgon2id || h.scheme == schemeArgon2i) && h.memory <= 1024 && h.time <= 2
		if !small {
			return
		}
		if _, _, err := Verify(s, []byte("password"), testParams()); err != nil {
			t.Fatalf("Verify failed after Check passed: %v", err)
		}
	})
}
