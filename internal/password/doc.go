// Package password hashes new passwords with argon2id, verifies imported
// hashes from other systems, and bounds how many hashes run at once.
//
// # Why argon2id and these defaults
//
// Argon2id (RFC 9106) is memory-hard: every guess costs an attacker the same
// memory it costs us, which erases most of the advantage of GPUs and ASICs
// that made fast hashes (and, to a lesser degree, bcrypt) cheap to crack. The
// "id" variant combines argon2i's resistance to side channels in its first
// pass with argon2d's resistance to time-memory trade-offs afterwards, and is
// the variant RFC 9106 and OWASP recommend. [DefaultParams] is the OWASP
// Password Storage Cheat Sheet minimum, m=19456 KiB (19 MiB), t=2, p=1,
// with a 16-byte salt and a 32-byte key: about 20-25 ms on one core here, so
// a login stays fast while an offline attacker pays 19 MiB and two passes for
// every guess. New hashes are PHC strings
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// with salt and key in standard base64 without padding, the format of the
// argon2 reference implementation, argon2-cffi and passlib, so hashes move
// between systems unchanged.
//
// # Imported hashes
//
// [Verify] also accepts bcrypt ($2a$, $2b$, $2y$), passlib's argon2 output
// (argon2id and argon2i, version 19) and passlib's bcrypt_sha256 ($bcrypt-sha256$,
// formats v=2 and the older v1). A match under any of them, or under argon2id
// with parameters other than the current ones, reports needsRehash so the
// caller can store a fresh argon2id hash while it still holds the password.
// Schemes that golang.org/x/crypto cannot compute correctly are rejected with
// [ErrUnsupported] rather than guessed at: argon2d, argon2 version 0x10 (the
// version number enters argon2's initial hash, and x/crypto only implements
// 0x13) and bcrypt's $2x$ (crypt_blowfish's sign-extension bug).
//
// # Why imported parameters are bounded
//
// The cost parameters travel inside the hash string, so whoever wrote the
// string chooses how much work and memory a login costs: m=4194304 asks for
// 4 GiB per attempt, bcrypt cost 31 for days of CPU, and p=0 makes
// x/crypto/argon2 panic. A hash can come from an import file, a compromised
// row or a bug, and one such row must not take the server down. [Check]
// therefore parses and bounds-checks every field without computing anything
// (argon2 m ≤ 1 GiB and ≥ 8·p, t 1..16, p 1..16, salt 8..64 bytes, key 16..64
// bytes; bcrypt cost 4..15), and [Verify] runs the same checks first. Errors
// name the field and value that is wrong and never contain salt or digest
// bytes.
//
// # Why the pool fails fast
//
// A verification is the most expensive thing a login does (19 MiB and tens of
// milliseconds for argon2id; a bcrypt cost-12 import is slower still). An
// unbounded queue turns a burst of attempts into unbounded memory and
// latency: every queued request holds its connection and, once running, its
// hash memory, and by the time it runs its client has often given up. [Pool]
// runs at most Workers hashes, lets at most Queue more wait, and rejects the
// rest at once with [ErrOverloaded], which the server maps to 503 with
// Retry-After. Memory stays bounded by Workers·m whatever arrives, and
// rejecting costs nanoseconds.
//
// # New passwords: NIST SP 800-63B and NFKC
//
// [Policy.Check] applies where a password is set, never at login: at least
// 15 characters by default (revision 4's minimum for a password used
// alone; no lower than 8), up to 1024 bytes, no composition rules, and
// nothing a [Screener] refuses (package breach: common and breached
// passwords). Passwords are normalised with Unicode NFKC before they are
// counted and hashed. [VerifyLogin] verifies the NFKC form first and falls
// back to the raw form, which hashes made before normalisation hold, and
// asks for a rehash when only the raw form matched.
//
// All functions and Pool methods are safe for concurrent use.
package password
