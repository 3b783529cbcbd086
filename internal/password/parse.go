package password

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// scheme names a supported hash algorithm.
type scheme string

const (
	schemeArgon2id     scheme = "argon2id"
	schemeArgon2i      scheme = "argon2i"
	schemeBcrypt       scheme = "bcrypt"
	schemeBcryptSHA256 scheme = "bcrypt-sha256"
)

// maxEncodedLen caps the input before any parsing: the longest hash we accept
// (argon2, 64-byte salt and key, 7-digit m) is about 220 bytes.
const maxEncodedLen = 256

const bcrypt64Alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// hashed is a parsed, bounds-checked hash. Only the fields of its scheme are set.
type hashed struct {
	scheme scheme
	class  string

	// argon2
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte

	// bcrypt and bcrypt-sha256: bcrypt is the plain bcrypt string to compare
	// against ("$2b$" for "$2y$" input); cost is its cost.
	bcrypt []byte
	cost   int
	// bcrypt-sha256 only: format version (1 or 2) and the 22-character salt
	// string that keys v2's HMAC.
	version int
	bsalt   string
}

// parse recognises the scheme of encoded and parses and bounds-checks it.
// Errors describe the field at fault and never quote salt or digest.
func parse(encoded string) (*hashed, error) {
	switch {
	case encoded == "":
		return nil, fmt.Errorf("empty hash: %w", ErrMalformed)
	case len(encoded) > maxEncodedLen:
		return nil, fmt.Errorf("hash is %d bytes, longer than the %d accepted: %w", len(encoded), maxEncodedLen, ErrMalformed)
	case strings.HasPrefix(encoded, "$argon2id$"):
		return parseArgon2(schemeArgon2id, encoded[len("$argon2id$"):])
	case strings.HasPrefix(encoded, "$argon2i$"):
		return parseArgon2(schemeArgon2i, encoded[len("$argon2i$"):])
	case strings.HasPrefix(encoded, "$argon2d$"):
		return nil, fmt.Errorf("argon2d is not supported (x/crypto implements argon2i and argon2id; argon2d is not meant for passwords): %w", ErrUnsupported)
	case strings.HasPrefix(encoded, "$bcrypt-sha256$"):
		return parseBcryptSHA256(encoded[len("$bcrypt-sha256$"):])
	case strings.HasPrefix(encoded, "$2"):
		return parseBcrypt(encoded)
	}
	return nil, fmt.Errorf("unrecognised hash prefix (want $argon2id$, $argon2i$, $2a$, $2b$, $2y$ or $bcrypt-sha256$): %w", ErrUnsupported)
}

// parseArgon2 parses the part of a PHC argon2 string after "$argon2X$":
// v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>, salt and key in standard
// base64 without padding (the reference encoder's format, which passlib and
// argon2-cffi write too).
func parseArgon2(s scheme, rest string) (*hashed, error) {
	fields := strings.Split(rest, "$")
	switch {
	case strings.HasPrefix(fields[0], "v="):
		v, err := parseDecimal(fields[0][2:])
		if err != nil {
			return nil, fmt.Errorf("argon2 version field is not v=<decimal>: %w", ErrMalformed)
		}
		if v != argon2Version {
			return nil, fmt.Errorf("argon2 version v=%d is not supported (x/crypto computes only v=%d): %w", v, argon2Version, ErrUnsupported)
		}
		fields = fields[1:]
	case strings.HasPrefix(fields[0], "m="):
		return nil, fmt.Errorf("argon2 hash without v= is version 0x10 (1.0), which x/crypto cannot compute: %w", ErrUnsupported)
	default:
		return nil, fmt.Errorf("argon2 hash lacks its v= field: %w", ErrMalformed)
	}
	if len(fields) != 3 {
		return nil, fmt.Errorf("argon2 hash has %d $-separated fields after the version, want 3 (params, salt, hash): %w", len(fields), ErrMalformed)
	}
	m, t, p, err := parseArgon2Params(fields[0])
	if err != nil {
		return nil, err
	}
	salt, err := decodeStdBase64(fields[1])
	if err != nil {
		return nil, fmt.Errorf("argon2 salt: %w", err)
	}
	key, err := decodeStdBase64(fields[2])
	if err != nil {
		return nil, fmt.Errorf("argon2 hash digest: %w", err)
	}
	if err := checkArgon2(m, t, p, len(salt), len(key)); err != nil {
		return nil, err
	}
	h := &hashed{scheme: s, memory: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, key: key}
	h.class = argon2Class(s, h.memory, h.time, h.threads)
	return h, nil
}

// argon2Version is the only argon2 version x/crypto/argon2 computes (0x13).
const argon2Version = 19

// parseArgon2Params parses "m=<d>,t=<d>,p=<d>" in that order, the only form
// the reference encoder writes.
func parseArgon2Params(s string) (m, t, p uint64, err error) {
	parts := strings.Split(s, ",")
	for _, part := range parts {
		if strings.HasPrefix(part, "keyid=") || strings.HasPrefix(part, "data=") {
			return 0, 0, 0, fmt.Errorf("argon2 keyid= and data= parameters are not supported: %w", ErrUnsupported)
		}
	}
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "m=") || !strings.HasPrefix(parts[1], "t=") || !strings.HasPrefix(parts[2], "p=") {
		return 0, 0, 0, fmt.Errorf("argon2 parameters are not m=<KiB>,t=<passes>,p=<lanes>: %w", ErrMalformed)
	}
	var vals [3]uint64
	for i, name := range []string{"memory m", "time t", "parallelism p"} {
		v, err := parseDecimal(parts[i][2:])
		if err != nil {
			return 0, 0, 0, fmt.Errorf("argon2 %s: %w", name, err)
		}
		vals[i] = v
	}
	return vals[0], vals[1], vals[2], nil
}

// parseDecimal parses a canonical unsigned decimal: digits only, at most 10,
// no leading zero (so equal values have one spelling and Class is canonical).
func parseDecimal(s string) (uint64, error) {
	if s == "" || len(s) > 10 {
		return 0, fmt.Errorf("not a decimal of 1 to 10 digits: %w", ErrMalformed)
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("decimal has a leading zero: %w", ErrMalformed)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("not a decimal number: %w", ErrMalformed)
		}
	}
	return strconv.ParseUint(s, 10, 64) // cannot fail: ≤ 10 digits
}

// decodeStdBase64 decodes standard-alphabet base64 without padding, strictly:
// no padding, no whitespace (which encoding/base64 would silently skip), and
// no stray bits in the last character.
func decodeStdBase64(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, fmt.Errorf("not standard base64 without padding (character %d): %w", i, ErrMalformed)
		}
	}
	b, err := base64.RawStdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not canonical base64 without padding: %w", ErrMalformed)
	}
	return b, nil
}

// parseBcrypt parses $2a$, $2b$ or $2y$ + two-digit cost + $ + 22 salt + 31
// digest characters. $2y$ (crypt_blowfish/PHP) is the same algorithm as $2b$
// and is compared as $2b$.
func parseBcrypt(encoded string) (*hashed, error) {
	if len(encoded) < 4 {
		return nil, fmt.Errorf("bcrypt hash too short: %w", ErrMalformed)
	}
	switch encoded[2] {
	case 'a', 'b', 'y':
	case 'x':
		return nil, fmt.Errorf("bcrypt $2x$ (crypt_blowfish's sign-extension bug) is not supported: %w", ErrUnsupported)
	case '$':
		return nil, fmt.Errorf("bcrypt $2$ (the original 1999 revision) is not supported: %w", ErrUnsupported)
	default:
		return nil, fmt.Errorf("unknown bcrypt variant (want $2a$, $2b$ or $2y$): %w", ErrUnsupported)
	}
	if len(encoded) != 60 {
		return nil, fmt.Errorf("bcrypt hash is %d bytes, want 60: %w", len(encoded), ErrMalformed)
	}
	if encoded[3] != '$' || encoded[6] != '$' {
		return nil, fmt.Errorf("bcrypt hash is not $2X$NN$<53 chars>: %w", ErrMalformed)
	}
	cost, err := parseBcryptCost(encoded[4:6], true)
	if err != nil {
		return nil, err
	}
	if !isBcrypt64(encoded[7:]) {
		return nil, fmt.Errorf("bcrypt salt or digest has a character outside [./A-Za-z0-9]: %w", ErrMalformed)
	}
	b := []byte(encoded)
	if b[2] == 'y' {
		b[2] = 'b' // same algorithm; keeps us independent of which minors x/crypto accepts
	}
	return &hashed{scheme: schemeBcrypt, class: encoded[:7], bcrypt: b, cost: cost}, nil
}

// parseBcryptCost parses a bcrypt cost; bcrypt proper zero-pads it to two
// digits, passlib's bcrypt_sha256 writes it without leading zero.
func parseBcryptCost(s string, twoDigits bool) (int, error) {
	var ok bool
	if twoDigits {
		ok = len(s) == 2 && isDigit(s[0]) && isDigit(s[1])
	} else {
		ok = (len(s) == 1 && isDigit(s[0])) || (len(s) == 2 && s[0] != '0' && isDigit(s[0]) && isDigit(s[1]))
	}
	if !ok {
		if twoDigits {
			return 0, fmt.Errorf("bcrypt cost is not two decimal digits: %w", ErrMalformed)
		}
		return 0, fmt.Errorf("bcrypt cost is not a decimal of 1 or 2 digits without leading zero: %w", ErrMalformed)
	}
	cost, _ := strconv.Atoi(s)
	if cost < minBcryptCost || cost > maxBcryptCost {
		return 0, fmt.Errorf("bcrypt cost %d out of range %d..%d: %w", cost, minBcryptCost, maxBcryptCost, ErrCostOutOfRange)
	}
	return cost, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isBcrypt64(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(bcrypt64Alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// parseBcryptSHA256 parses the part of a passlib bcrypt_sha256 hash after
// "$bcrypt-sha256$", following passlib 1.7.4 (passlib/handlers/bcrypt.py):
//
//	v2 (passlib ≥ 1.7.3): v=2,t=2b,r=<rounds>$<salt22>$<digest31>
//	v1 (older):           <2a|2b>,<rounds>$<salt22>$<digest31>
//
// rounds is decimal without leading zero. v2 computes
// bcrypt($2b$, rounds, salt, base64(HMAC-SHA256(key=salt string, msg=password))),
// v1 bcrypt(ident, rounds, salt, base64(SHA256(password))), base64 being the
// standard alphabet with padding (44 bytes).
func parseBcryptSHA256(rest string) (*hashed, error) {
	fields := strings.Split(rest, "$")
	if len(fields) == 2 || (len(fields) == 3 && fields[2] == "") {
		return nil, fmt.Errorf("bcrypt-sha256 hash has no digest (a config string, not a hash): %w", ErrMalformed)
	}
	if len(fields) != 3 {
		return nil, fmt.Errorf("bcrypt-sha256 hash has %d $-separated fields, want 3 (params, salt, digest): %w", len(fields), ErrMalformed)
	}
	params, salt, digest := fields[0], fields[1], fields[2]
	h := &hashed{scheme: schemeBcryptSHA256, bsalt: salt}
	var minor byte
	var rounds string
	if strings.HasPrefix(params, "v=") {
		parts := strings.Split(params, ",")
		if len(parts) != 3 || !strings.HasPrefix(parts[1], "t=") || !strings.HasPrefix(parts[2], "r=") {
			return nil, fmt.Errorf("bcrypt-sha256 parameters are not v=2,t=2b,r=<rounds>: %w", ErrMalformed)
		}
		switch v := parts[0][2:]; {
		case v == "2":
		case v == "1":
			return nil, fmt.Errorf("bcrypt-sha256 v=1 is written without v= (as 2b,<rounds>): %w", ErrMalformed)
		case len(v) > 0 && len(v) <= 3 && strings.Trim(v, "0123456789") == "":
			return nil, fmt.Errorf("bcrypt-sha256 version v=%s is not supported (want v=2): %w", v, ErrUnsupported)
		default:
			return nil, fmt.Errorf("bcrypt-sha256 version is not a decimal: %w", ErrMalformed)
		}
		if parts[1] != "t=2b" {
			return nil, fmt.Errorf("bcrypt-sha256 v=2 requires t=2b: %w", ErrMalformed)
		}
		h.version, minor, rounds = 2, 'b', parts[2][2:]
	} else {
		parts := strings.Split(params, ",")
		if len(parts) != 2 || (parts[0] != "2a" && parts[0] != "2b") {
			return nil, fmt.Errorf("bcrypt-sha256 v1 parameters are not <2a|2b>,<rounds>: %w", ErrMalformed)
		}
		h.version, minor, rounds = 1, parts[0][1], parts[1]
	}
	cost, err := parseBcryptCost(rounds, false)
	if err != nil {
		return nil, fmt.Errorf("bcrypt-sha256: %w", err)
	}
	if len(salt) != 22 || len(digest) != 31 || !isBcrypt64(salt) || !isBcrypt64(digest) {
		return nil, fmt.Errorf("bcrypt-sha256 salt or digest is not 22 and 31 characters of [./A-Za-z0-9]: %w", ErrMalformed)
	}
	if h.version == 2 && strings.IndexByte(".Oeu", salt[21]) < 0 {
		// passlib refuses these too: bcrypt implementations disagree on salts
		// whose unused bits are set.
		return nil, fmt.Errorf("bcrypt-sha256 v2 salt has its unused low bits set: %w", ErrMalformed)
	}
	h.cost = cost
	h.bcrypt = []byte(fmt.Sprintf("$2%c$%02d$%s%s", minor, cost, salt, digest))
	if h.version == 2 {
		h.class = fmt.Sprintf("$bcrypt-sha256$v=2,t=2b,r=%d", cost)
	} else {
		h.class = fmt.Sprintf("$bcrypt-sha256$2%c,%d", minor, cost)
	}
	return h, nil
}

// bcryptSHA256Key is the password bcrypt sees under passlib's bcrypt_sha256:
// the standard base64 (with padding) of HMAC-SHA256 keyed by the salt string
// (v2) or of SHA-256 (v1). Base64 keeps NUL bytes out of bcrypt's input and
// 44 bytes keep it under bcrypt's 72-byte limit.
func bcryptSHA256Key(version int, salt string, password []byte) []byte {
	var sum []byte
	if version == 2 {
		mac := hmac.New(sha256.New, []byte(salt))
		mac.Write(password)
		sum = mac.Sum(nil)
	} else {
		s := sha256.Sum256(password)
		sum = s[:]
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(sum)))
	base64.StdEncoding.Encode(out, sum)
	return out
}

// parseClass parses a class as returned by Check, by completing it with a
// placeholder salt and digest of valid length; the class must be canonical.
func parseClass(class string) (*hashed, error) {
	var full string
	switch {
	case strings.HasPrefix(class, "$argon2"):
		full = class + "$" + strings.Repeat("A", 22) + "$" + strings.Repeat("A", 43) // 16-byte salt, 32-byte key
	case strings.HasPrefix(class, "$bcrypt-sha256$"):
		full = class + "$" + strings.Repeat(".", 22) + "$" + strings.Repeat(".", 31)
	case strings.HasPrefix(class, "$2"):
		full = class + strings.Repeat(".", 53)
	default:
		return nil, fmt.Errorf("unrecognised class prefix: %w", ErrUnsupported)
	}
	h, err := parse(full)
	if err != nil {
		return nil, err
	}
	if h.class != class {
		return nil, fmt.Errorf("not a class as returned by Check (scheme and cost only): %w", ErrMalformed)
	}
	return h, nil
}
