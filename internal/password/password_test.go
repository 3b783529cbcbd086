package password

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

// testParams are small argon2id parameters that keep tests fast; the real
// defaults are exercised in TestDefaultParams and the benchmarks.
func testParams() Params {
	return Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	base := testParams()
	params := map[string]Params{
		"small":    base,
		"threads2": {MemoryKiB: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32},
		"minsalt":  {MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16},
		"maxsizes": {MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 64, KeyLen: 64},
	}
	passwords := map[string][]byte{
		"empty":   {},
		"ascii":   []byte("correct horse battery staple"),
		"unicode": []byte("tá Бℓə 密码"),
		"nul":     []byte("pass\x00word"),
		"long":    bytes.Repeat([]byte("0123456789"), 30), // > bcrypt's 72: argon2 uses all of it
	}
	for pname, p := range params {
		for wname, pw := range passwords {
			t.Run(pname+"/"+wname, func(t *testing.T) {
				enc, err := Hash(rand.Reader, pw, p)
				if err != nil {
					t.Fatal(err)
				}
				class, err := Check(enc)
				if err != nil {
					t.Fatalf("Check(own hash): %v", err)
				}
				if want := argon2Class(schemeArgon2id, p.MemoryKiB, p.Time, p.Threads); class != want {
					t.Errorf("class = %q, want %q", class, want)
				}
				match, rehash, err := Verify(enc, pw, p)
				if err != nil || !match || rehash {
					t.Errorf("Verify(right) = %v, %v, %v; want true, false, nil", match, rehash, err)
				}
				wrong := append(bytes.Clone(pw), 'x')
				match, rehash, err = Verify(enc, wrong, p)
				if err != nil || match || rehash {
					t.Errorf("Verify(wrong) = %v, %v, %v; want false, false, nil", match, rehash, err)
				}
			})
		}
	}
}

// TestHashMatchesReference builds the argon2 reference implementation's
// argon2id example (salt "somesalt", m=65536, t=2, p=4; quoted in passlib
// 1.7.4's argon2-cffi test vectors) with Hash, so our encoder, not only our
// parser, agrees with other implementations byte for byte.
func TestHashMatchesReference(t *testing.T) {
	p := Params{MemoryKiB: 65536, Time: 2, Threads: 4, SaltLen: 8, KeyLen: 32}
	got, err := Hash(strings.NewReader("somesalt"), []byte("password"), p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo"; got != want {
		t.Errorf("Hash = %s\nwant   %s", got, want)
	}
}

func TestDefaultParams(t *testing.T) {
	p := DefaultParams()
	if p != (Params{MemoryKiB: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}) {
		t.Fatalf("DefaultParams = %+v", p)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	enc, err := Hash(rand.Reader, []byte("pw"), p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") || len(enc) != len("$argon2id$v=19$m=19456,t=2,p=1$")+22+1+43 {
		t.Errorf("hash %q does not have the expected shape", enc)
	}
	if match, rehash, err := Verify(enc, []byte("pw"), p); err != nil || !match || rehash {
		t.Errorf("Verify = %v, %v, %v", match, rehash, err)
	}
}

func TestValidate(t *testing.T) {
	ok := testParams()
	tests := []struct {
		name string
		edit func(*Params)
		want error
	}{
		{"ok", func(*Params) {}, nil},
		{"memory at 8*threads", func(p *Params) { p.Threads = 4; p.MemoryKiB = 32 }, nil},
		{"memory below 8*threads", func(p *Params) { p.Threads = 4; p.MemoryKiB = 31 }, ErrCostOutOfRange},
		{"memory 1 GiB", func(p *Params) { p.MemoryKiB = 1 << 20 }, nil},
		{"memory above 1 GiB", func(p *Params) { p.MemoryKiB = 1<<20 + 1 }, ErrCostOutOfRange},
		{"time 0", func(p *Params) { p.Time = 0 }, ErrCostOutOfRange},
		{"time 16", func(p *Params) { p.Time = 16 }, nil},
		{"time 17", func(p *Params) { p.Time = 17 }, ErrCostOutOfRange},
		{"threads 0", func(p *Params) { p.Threads = 0 }, ErrCostOutOfRange},
		{"threads 16", func(p *Params) { p.Threads = 16; p.MemoryKiB = 128 }, nil},
		{"threads 17", func(p *Params) { p.Threads = 17; p.MemoryKiB = 1024 }, ErrCostOutOfRange},
		{"salt 7", func(p *Params) { p.SaltLen = 7 }, ErrCostOutOfRange},
		{"salt 65", func(p *Params) { p.SaltLen = 65 }, ErrCostOutOfRange},
		{"key 15", func(p *Params) { p.KeyLen = 15 }, ErrCostOutOfRange},
		{"key 65", func(p *Params) { p.KeyLen = 65 }, ErrCostOutOfRange},
		{"zero value", func(p *Params) { *p = Params{} }, ErrCostOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.edit(&p)
			err := p.Validate()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Validate() = %v, want %v", err, tt.want)
			}
			// Hash refuses what Validate refuses, before reading any salt.
			if tt.want != nil {
				if _, err := Hash(rand.Reader, []byte("pw"), p); !errors.Is(err, tt.want) {
					t.Errorf("Hash error = %v, want %v", err, tt.want)
				}
			}
		})
	}
}

func TestHashShortRandom(t *testing.T) {
	if _, err := Hash(strings.NewReader("short"), []byte("pw"), testParams()); err == nil {
		t.Fatal("Hash with a 5-byte random source succeeded")
	}
	if _, err := Dummy(strings.NewReader("short"), testParams()); err == nil {
		t.Fatal("Dummy with a 5-byte random source succeeded")
	}
}

// Salt "c29tZXNhbHQAAAAAAAAAAA" and key "QWLz..." are distinctive, so the test
// can check they never appear in an error.
const (
	tSalt = "c29tZXNhbHQAAAAAAAAAAA"                      // 16 bytes
	tKey  = "QWLzI4TY9HkL2ZTLc8g6SinwdhZewYrzz9zxCo0bkGY" // 32 bytes
	tBcr  = "EXRkfkdmXnagzds2SSitu.MW9.gAVqa9eLS1//RYtYCmB1eLHg.9q"
)

// TestParseErrors breaks each field of each format in turn.
func TestParseErrors(t *testing.T) {
	a := func(params string) string { return "$argon2id$v=19$" + params + "$" + tSalt + "$" + tKey }
	tests := []struct {
		name    string
		in      string
		want    error
		message string // substring the error must contain
	}{
		{"empty", "", ErrMalformed, "empty hash"},
		{"too long", a("m=64,t=1,p=1") + strings.Repeat("A", 200), ErrMalformed, "longer than"},
		{"unknown scheme", "$md5$abcdefgh$" + tKey, ErrUnsupported, "unrecognised hash prefix"},
		{"plaintext", "hunter2hunter2", ErrUnsupported, "unrecognised hash prefix"},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + tSalt + "$" + tKey, ErrUnsupported, "argon2d"},
		{"argon2 nothing after prefix", "$argon2id$", ErrMalformed, "v= field"},
		{"argon2 no version", "$argon2id$m=64,t=1,p=1$" + tSalt + "$" + tKey, ErrUnsupported, "version 0x10"},
		{"argon2 v=16", "$argon2id$v=16$m=64,t=1,p=1$" + tSalt + "$" + tKey, ErrUnsupported, "v=16"},
		{"argon2 v not decimal", "$argon2id$v=x$m=64,t=1,p=1$" + tSalt + "$" + tKey, ErrMalformed, "version"},
		{"argon2 v leading zero", "$argon2id$v=019$m=64,t=1,p=1$" + tSalt + "$" + tKey, ErrMalformed, "version"},
		{"argon2 missing key", "$argon2id$v=19$m=64,t=1,p=1$" + tSalt, ErrMalformed, "want 3"},
		{"argon2 extra field", a("m=64,t=1,p=1") + "$" + tKey, ErrMalformed, "want 3"},
		{"argon2 params order", a("t=1,m=64,p=1"), ErrMalformed, "m=<KiB>"},
		{"argon2 params missing p", a("m=64,t=1"), ErrMalformed, "m=<KiB>"},
		{"argon2 extra param", a("m=64,t=1,p=1,x=1"), ErrMalformed, "m=<KiB>"},
		{"argon2 data param", a("m=64,t=1,p=1,data=c29tZQ"), ErrUnsupported, "data="},
		{"argon2 m empty", a("m=,t=1,p=1"), ErrMalformed, "memory m"},
		{"argon2 m not digits", a("m=6x,t=1,p=1"), ErrMalformed, "memory m"},
		{"argon2 m negative", a("m=-64,t=1,p=1"), ErrMalformed, "memory m"},
		{"argon2 m leading zero", a("m=064,t=1,p=1"), ErrMalformed, "memory m"},
		{"argon2 m 11 digits", a("m=10000000000,t=1,p=1"), ErrMalformed, "memory m"},
		{"argon2 t not digits", a("m=64,t=one,p=1"), ErrMalformed, "time t"},
		{"argon2 p not digits", a("m=64,t=1,p=+1"), ErrMalformed, "parallelism p"},
		{"argon2 p=0", a("m=64,t=1,p=0"), ErrCostOutOfRange, "argon2 parallelism p=0 out of range 1..16"},
		{"argon2 p=17", a("m=1024,t=1,p=17"), ErrCostOutOfRange, "p=17"},
		{"argon2 p=256", a("m=4096,t=1,p=256"), ErrCostOutOfRange, "p=256"},
		{"argon2 m huge", a("m=4194304,t=1,p=1"), ErrCostOutOfRange, "m=4194304"},
		{"argon2 m max uint32", a("m=4294967295,t=1,p=1"), ErrCostOutOfRange, "m=4294967295"},
		{"argon2 m below 8p", a("m=31,t=1,p=4"), ErrCostOutOfRange, "m=31"},
		{"argon2 t=0", a("m=64,t=0,p=1"), ErrCostOutOfRange, "time t=0"},
		{"argon2 t=17", a("m=64,t=17,p=1"), ErrCostOutOfRange, "t=17"},
		{"argon2 t beyond uint32", a("m=64,t=8589934592,p=1"), ErrCostOutOfRange, "t=8589934592"},
		{"argon2 salt bad char", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNh.HQAAAAAAAAAAA$" + tKey, ErrMalformed, "salt"},
		{"argon2 salt padded", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ=$" + tKey, ErrMalformed, "salt"},
		{"argon2 salt newline", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNh\nbHQAAAAAAAAAAA$" + tKey, ErrMalformed, "salt"},
		{"argon2 salt url alphabet", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNh-HQAAAAAAAAAAA$" + tKey, ErrMalformed, "salt"},
		{"argon2 salt bad length", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQAA$" + tKey, ErrMalformed, "salt"},
		{"argon2 salt stray bits", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHR$" + tKey, ErrMalformed, "salt"},
		{"argon2 salt short", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbA$" + tKey, ErrCostOutOfRange, "salt length 7"},
		{"argon2 salt empty", "$argon2id$v=19$m=64,t=1,p=1$$" + tKey, ErrCostOutOfRange, "salt length 0"},
		{"argon2 key bad char", "$argon2id$v=19$m=64,t=1,p=1$" + tSalt + "$QWLzI4TY9HkL2ZTLc8g6Sinwd*ZewYrzz9zxCo0bkGY", ErrMalformed, "digest"},
		{"argon2 key short", "$argon2id$v=19$m=64,t=1,p=1$" + tSalt + "$QWLzI4TY9HkL2ZTLc8g6", ErrCostOutOfRange, "key length 15"},
		{"argon2 key long", "$argon2id$v=19$m=64,t=1,p=1$" + tSalt + "$" + strings.Repeat("A", 88), ErrCostOutOfRange, "key length 66"},
		{"bcrypt cost 3", "$2b$03$" + tBcr, ErrCostOutOfRange, "bcrypt cost 3 out of range 4..15"},
		{"bcrypt cost 16", "$2b$16$" + tBcr, ErrCostOutOfRange, "bcrypt cost 16"},
		{"bcrypt cost 31", "$2b$31$" + tBcr, ErrCostOutOfRange, "bcrypt cost 31"},
		{"bcrypt cost 99", "$2a$99$" + tBcr, ErrCostOutOfRange, "bcrypt cost 99"},
		{"bcrypt cost one digit", "$2b$4$" + tBcr + "x", ErrMalformed, "$2X$NN$"},
		{"bcrypt cost letters", "$2b$1a$" + tBcr, ErrMalformed, "two decimal digits"},
		{"bcrypt short", "$2b$10$" + tBcr[:52], ErrMalformed, "want 60"},
		{"bcrypt long", "$2b$10$" + tBcr + "x", ErrMalformed, "want 60"},
		{"bcrypt tiny", "$2", ErrMalformed, "too short"},
		{"bcrypt separator", "$2b$10x" + tBcr, ErrMalformed, "$2X$NN$"},
		{"bcrypt bad char", "$2b$10$" + tBcr[:52] + "!", ErrMalformed, "[./A-Za-z0-9]"},
		{"bcrypt $2$", "$2$10$" + tBcr + "x", ErrUnsupported, "$2$"},
		{"bcrypt $2x$", "$2x$10$" + tBcr, ErrUnsupported, "$2x$"},
		{"bcrypt $2c$", "$2c$10$" + tBcr, ErrUnsupported, "variant"},
		{"bcrypt-sha256 cost 3", "$bcrypt-sha256$v=2,t=2b,r=3$5Hg1DKFqPE8C2aflZ5vVoe$12BjNE0p7axMg55.Y/mHsYiVuFBDQyu", ErrCostOutOfRange, "bcrypt cost 3"},
		{"bcrypt-sha256 cost 31", "$bcrypt-sha256$v=2,t=2b,r=31$5Hg1DKFqPE8C2aflZ5vVoe$12BjNE0p7axMg55.Y/mHsYiVuFBDQyu", ErrCostOutOfRange, "bcrypt cost 31"},
		{"bcrypt-sha256 v2 salt padding bits", "$bcrypt-sha256$v=2,t=2b,r=5$5Hg1DKFqPE8C2aflZ5vVoA$12BjNE0p7axMg55.Y/mHsYiVuFBDQyu", ErrMalformed, "unused low bits"},
		{"bcrypt-sha256 short digest", "$bcrypt-sha256$v=2,t=2b,r=5$5Hg1DKFqPE8C2aflZ5vVoe$12BjNE0p7axMg55.Y/mHsYiVuFBDQy", ErrMalformed, "22 and 31"},
		{"bcrypt-sha256 extra field", "$bcrypt-sha256$v=2,t=2b,r=5$5Hg1DKFqPE8C2aflZ5vVoe$12BjNE0p7axMg55.Y/mHsYiVuFBDQyu$", ErrMalformed, "want 3"},
		{"bcrypt-sha256 config only", "$bcrypt-sha256$v=2,t=2b,r=5$5Hg1DKFqPE8C2aflZ5vVoe", ErrMalformed, "no digest"},
		{"bcrypt-sha256 v not decimal", "$bcrypt-sha256$v=x,t=2b,r=5$5Hg1DKFqPE8C2aflZ5vVoe$12BjNE0p7axMg55.Y/mHsYiVuFBDQyu", ErrMalformed, "version"},
		{"bcrypt-sha256 params", "$bcrypt-sha256$v=2,r=5$5Hg1DKFqPE8C2aflZ5vVoe$12BjNE0p7axMg55.Y/mHsYiVuFBDQyu", ErrMalformed, "v=2,t=2b,r="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not say %q", err, tt.message)
			}
			for _, secret := range []string{tSalt, tKey, tBcr, "5Hg1DKFqPE8C2aflZ5vVo", "12BjNE0p7axMg55"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks salt or digest", err)
				}
			}
			// Verify fails the same way, before computing anything.
			if _, _, verr := Verify(tt.in, []byte("pw"), testParams()); !errors.Is(verr, tt.want) {
				t.Errorf("Verify error = %v, want %v", verr, tt.want)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	current := testParams()
	own, err := Hash(rand.Reader, []byte("pw"), current)
	if err != nil {
		t.Fatal(err)
	}
	older := current
	older.Time = 2
	oldHash, err := Hash(rand.Reader, []byte("pw"), older)
	if err != nil {
		t.Fatal(err)
	}
	shortSalt := current
	shortSalt.SaltLen = 8
	shortSaltHash, err := Hash(rand.Reader, []byte("pw"), shortSalt)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		encoded string
		current Params
		want    bool
	}{
		{"current params", own, current, false},
		{"other time", oldHash, current, true},
		{"other memory", own, Params{MemoryKiB: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"other threads", own, Params{MemoryKiB: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"other key length", own, Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 64}, true},
		{"other salt length", shortSaltHash, current, true},
		{"argon2i same params", "$argon2i$v=19$m=256,t=1,p=1$c29tZXNhbHQ$AJFIsNZTMKTAewB4+ETN1A", Params{MemoryKiB: 256, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}, true},
		{"bcrypt", "$2a$05$c92SVSfjeiCD6F2nAD6y0uBpJDjdRkt0EgeC4/31Rf2LUZbDRDE.O", current, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pw := []byte("pw")
			switch {
			case strings.HasPrefix(tt.encoded, "$argon2i$"):
				pw = []byte("password")
			case strings.HasPrefix(tt.encoded, "$2a$"):
				pw = []byte("U*U*U*U*")
			}
			match, rehash, err := Verify(tt.encoded, pw, tt.current)
			if err != nil || !match {
				t.Fatalf("Verify = %v, %v", match, err)
			}
			if rehash != tt.want {
				t.Errorf("needsRehash = %v, want %v", rehash, tt.want)
			}
		})
	}
}

func TestCalibrate(t *testing.T) {
	good := []string{
		"$2b$04$",
		"$2a$04$",
		"$2y$04$",
		"$bcrypt-sha256$v=2,t=2b,r=4",
		"$bcrypt-sha256$2a,4",
		"$argon2id$v=19$m=64,t=1,p=1",
		"$argon2i$v=19$m=64,t=1,p=2",
	}
	for _, class := range good {
		t.Run(class, func(t *testing.T) {
			d, err := Calibrate(class)
			if err != nil {
				t.Fatal(err)
			}
			if d <= 0 {
				t.Errorf("Calibrate = %v, want > 0", d)
			}
		})
	}
	// A class from Check calibrates.
	enc, err := Hash(rand.Reader, []byte("pw"), testParams())
	if err != nil {
		t.Fatal(err)
	}
	class, err := Check(enc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Calibrate(class); err != nil {
		t.Errorf("Calibrate(Check(own hash)) = %v", err)
	}

	bad := []struct {
		class string
		want  error
	}{
		{"", ErrUnsupported},
		{"$md5$", ErrUnsupported},
		{"$2b$04$abc", ErrMalformed}, // salt is not part of a class
		{"$2b$31$", ErrCostOutOfRange},
		{"$2x$04$", ErrUnsupported},
		{"$argon2id$v=19$m=64,t=1,p=0", ErrCostOutOfRange},
		{"$argon2id$v=19$m=2097152,t=1,p=1", ErrCostOutOfRange},
		{"$argon2id$v=19$m=64,t=1,p=1$", ErrMalformed},
		{"$argon2d$v=19$m=64,t=1,p=1", ErrUnsupported},
		{"$bcrypt-sha256$v=2,t=2b,r=04", ErrMalformed},
	}
	for _, tt := range bad {
		if _, err := Calibrate(tt.class); !errors.Is(err, tt.want) {
			t.Errorf("Calibrate(%q) = %v, want %v", tt.class, err, tt.want)
		}
	}
}

func TestDummy(t *testing.T) {
	p := testParams()
	d1, err := Dummy(rand.Reader, p)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Dummy(rand.Reader, p)
	if err != nil {
		t.Fatal(err)
	}
	if d1 == d2 {
		t.Error("two dummies are equal")
	}
	class, err := Check(d1)
	if err != nil {
		t.Fatal(err)
	}
	if want := argon2Class(schemeArgon2id, p.MemoryKiB, p.Time, p.Threads); class != want {
		t.Errorf("dummy class = %q, want %q (same work as a real user)", class, want)
	}
	for _, pw := range []string{"", "password", "hunter2"} {
		if match, _, err := Verify(d1, []byte(pw), p); err != nil || match {
			t.Errorf("Verify(dummy, %q) = %v, %v", pw, match, err)
		}
	}
	if _, err := Dummy(rand.Reader, Params{}); !errors.Is(err, ErrCostOutOfRange) {
		t.Errorf("Dummy(zero Params) = %v, want ErrCostOutOfRange", err)
	}
}

// TestBcrypt2yIs2b: $2y$ and $2b$ with the same salt and digest are the same
// hash (crypt_blowfish's name for the fixed algorithm).
func TestBcrypt2yIs2b(t *testing.T) {
	const tail = "07$BCryptRequires22Chrcte/VlQH0piJtjXl.0t1XkA8pw9dMXTpOq" // PHP manual
	for _, prefix := range []string{"$2y$", "$2b$", "$2a$"} {
		match, rehash, err := Verify(prefix+tail, []byte("rasmuslerdorf"), testParams())
		if err != nil || !match || !rehash {
			t.Errorf("Verify(%s...) = %v, %v, %v", prefix, match, rehash, err)
		}
		class, err := Check(prefix + tail)
		if err != nil || class != prefix+"07$" {
			t.Errorf("Check(%s...) = %q, %v", prefix, class, err)
		}
	}
}
