// Package token issues and verifies credshield's access tokens: JWS compact
// tokens (RFC 7515) carrying RFC 9068 JWT access-token claims, signed with an
// asymmetric key (EdDSA by default, ES256 or RS256), with the keys kept as
// files on disk and published as a JWKS (RFC 7517).
//
// # Why asymmetric keys
//
// A shared HS256 secret lets every service that can verify a token also mint
// one, and a weak secret falls to offline guessing from a single captured
// token. With a private signing key only the token service can sign; resource
// servers get the public half from the JWKS and can do nothing but check.
// Each key's ID is its RFC 7638 JWK thumbprint, so a kid names exactly one
// public key and cannot be chosen to collide with another.
//
// # Why the key fixes the algorithm
//
// The classic JWT attacks ("alg":"none", HS256 keyed with the RSA or Ed25519
// public key, ES256 signatures checked as something else) all come from
// letting the token's header choose how it is checked. Here the header's kid
// is only a map lookup key; the key found there carries its one algorithm,
// and the header's alg must equal it byte for byte. Embedded or referenced
// keys (jwk, jku, x5u, x5c) and critical extensions (crit) are refused
// outright, never consulted.
//
// # Why a narrow verifier, and how it is kept honest
//
// Verifying is on every protected request, so [Verifier] is a small parser of
// its own: a length cap before any decoding, exactly three canonical
// base64url segments, a strict JSON reader for the handful of header and
// claim members it needs (exact-case names, duplicates refused, UTF-8 only),
// then the standard library's crypto/ed25519, crypto/ecdsa or crypto/rsa. Its
// cost stays within a few percent of the bare signature check (six small
// allocations), where go-jose adds 15-35% (see bench_test.go). Hand-written parsing of attacker input is where JWT
// libraries have failed before, so the tests hold it to go-jose: a
// differential test over many generated valid and mutated tokens requires
// that this verifier accepts exactly what go-jose's signature verification
// plus the same claim rules accepts, with every intentional difference
// (stricter base64, no crit, no embedded keys, no duplicate or invalid UTF-8
// JSON, a length cap) written out in the reference; and a fuzz target checks
// that nothing is ever accepted that go-jose would refuse.
package token
