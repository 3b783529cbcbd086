package password

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// vector is one entry of testdata/vectors.json; see "sources" there for where
// each hash comes from.
type vector struct {
	Source      string `json:"source"`
	Password    string `json:"password"`
	PasswordHex string `json:"password_hex"`
	RepeatTo    int    `json:"repeat_to"`
	Suffix      string `json:"suffix"`
	Hash        string `json:"hash"`
	Want        string `json:"want"`
}

func (v vector) password(t *testing.T) []byte {
	t.Helper()
	pw := []byte(v.Password)
	if v.PasswordHex != "" {
		var err error
		if pw, err = hex.DecodeString(v.PasswordHex); err != nil {
			t.Fatalf("bad password_hex: %v", err)
		}
	}
	if v.RepeatTo > 0 {
		unit := pw
		pw = nil
		for len(pw) < v.RepeatTo {
			pw = append(pw, unit...)
		}
		pw = pw[:v.RepeatTo]
	}
	return append(pw, v.Suffix...)
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Sources map[string]string `json:"sources"`
		Vectors []vector          `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	for _, v := range file.Vectors {
		if _, ok := file.Sources[v.Source]; !ok {
			t.Fatalf("vector %s cites unknown source %q", v.Hash, v.Source)
		}
	}
	return file.Vectors
}

var wantErr = map[string]error{
	"unsupported": ErrUnsupported,
	"malformed":   ErrMalformed,
	"range":       ErrCostOutOfRange,
}

// secretFields returns the salt and digest parts of an encoded hash, which
// must never appear in an error.
func secretFields(encoded string) []string {
	if strings.HasPrefix(encoded, "$2") && len(encoded) >= 29 {
		return []string{encoded[7:29], encoded[29:]}
	}
	f := strings.Split(encoded, "$")
	var out []string
	if len(f) >= 2 {
		for _, s := range f[len(f)-2:] {
			if len(s) >= 8 && !strings.Contains(s, "=") { // not a params field
				out = append(out, s)
			}
		}
	}
	return out
}

// TestVectors verifies hashes written by passlib, argon2-cffi, the argon2 and
// crypt_blowfish reference code and PHP, with their published passwords.
func TestVectors(t *testing.T) {
	current := testParams()
	for _, v := range loadVectors(t) {
		t.Run(v.Source+"/"+v.Hash, func(t *testing.T) {
			pw := v.password(t)
			class, cerr := Check(v.Hash)
			switch v.Want {
			case "match":
				if cerr != nil {
					t.Fatalf("Check: %v", cerr)
				}
				if !strings.HasPrefix(v.Hash, class) {
					t.Errorf("class %q is not a prefix of the hash", class)
				}
				match, rehash, err := Verify(v.Hash, pw, current)
				if err != nil || !match || !rehash {
					t.Errorf("Verify(right password) = %v, %v, %v; want true, true (imported), nil", match, rehash, err)
				}
				wrong := append([]byte("x"), pw...)
				match, rehash, err = Verify(v.Hash, wrong, current)
				if err != nil || match || rehash {
					t.Errorf("Verify(wrong password) = %v, %v, %v; want false, false, nil", match, rehash, err)
				}
			case "check-only": // valid but too big to compute in a unit test
				if cerr != nil {
					t.Fatalf("Check: %v", cerr)
				}
			default:
				want, ok := wantErr[v.Want]
				if !ok {
					t.Fatalf("unknown want %q", v.Want)
				}
				if !errors.Is(cerr, want) {
					t.Errorf("Check error = %v, want %v", cerr, want)
				}
				match, _, err := Verify(v.Hash, pw, current)
				if !errors.Is(err, want) || match {
					t.Errorf("Verify = %v, %v; want false, %v", match, err, want)
				}
				for _, s := range secretFields(v.Hash) {
					if cerr != nil && strings.Contains(cerr.Error(), s) {
						t.Errorf("error %q leaks hash field %q", cerr, s)
					}
				}
			}
		})
	}
}

// TestBcryptSHA256Intermediate checks the HMAC step of bcrypt_sha256 v2 on its
// own, against passlib 1.7.4 test_calc_digest_v2.
func TestBcryptSHA256Intermediate(t *testing.T) {
	got := string(bcryptSHA256Key(2, "nyKYxTAvjmy6lMDYMl11Uu", []byte("test")))
	if want := "J5TlyIDm+IcSWmKiDJm+MeICndBkFVPn4kKdJW8f+xY="; got != want {
		t.Errorf("v2 key = %q, want %q", got, want)
	}
	// v1 is plain SHA-256; passlib's docs give the key for "password".
	got = string(bcryptSHA256Key(1, "", []byte("password")))
	if want := "XohImNooBHFR0OVvjcYpJ3NgPQ1qq73WKhHvch0VQtg="; got != want {
		t.Errorf("v1 key = %q, want %q", got, want)
	}
}
