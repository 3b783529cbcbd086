// Package token issues and verifies credshield's access tokens: JWS compact
// tokens (RFC 7515) carrying RFC 9068 JWT access-token claims, signed with an
// asymmetric key (EdDSA by default, ES256 or RS256), with the keys kept in a
// [KeySource] — files on disk ([Dir]) on one node, or a store that replicas
// share, keys sealed (package secret) — and published as a JWKS (RFC 7517).
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
// # Sender-constrained tokens
//
// A token issued against a DPoP proof (RFC 9449) carries cnf.jkt, the
// thumbprint of the client's key, in [Claims].JKT. The verifier reads it
// strictly: cnf must be an object whose jkt is a non-empty string; any other
// cnf (another confirmation method alone, a wrong type) is refused, since a
// binding nobody checks would turn the token back into a bearer token.
// Checking the proof itself is the resource's job (package dpop).
//
// # Key rotation
//
// Each key carries NotBefore: [Rotate] stages a key that the JWKS publishes
// at once but that signs only from NotBefore, so verifiers caching the JWKS
// know it before they meet its first token; [KeySet.Reload] picks staged
// keys up in a running server and drops keys retired once every token they
// signed has expired ([Retired]). [LoadOrCreate], [Load] and [Rotate] take
// any KeySource, the same for files and for a shared store; Rotate can ask
// whether a rotation is still due inside the source's exclusive update, so
// replicas sharing a store rotate once.
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
