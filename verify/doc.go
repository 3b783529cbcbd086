// Package verify is net/http middleware for resource servers that accept
// credshield's access tokens: other Go services check a token themselves,
// with the issuer's public keys, and need no shared secret and no call to
// credshield per request.
//
// A [Verifier] fetches the issuer's JWKS (RFC 7517), keeps it in memory, and
// checks each request's token exactly as credshield's own /users/me and
// /verify do, since they are built on this package (over the issuer's own
// keys, [Config].Keys, instead of a fetched JWKS):
// the key named by kid fixes the algorithm, the signature is checked with
// the standard library, then typ (at+jwt), iss, aud, exp, nbf and iat (see
// package token). A DPoP-bound token (cnf.jkt, RFC 9449) is accepted only
// with the DPoP scheme and a valid proof from the bound key, whose htu is
// built from Config.ResourceURL and the request path, never from the Host
// header. Claims go into the request context ([ClaimsFromContext]); errors
// answer 401 with RFC 6750 / RFC 9449 WWW-Authenticate challenges, and a
// refusal that is the server's condition (503) or a client's excess (429)
// says when to retry in Retry-After.
//
// # Keys: fetch, cache, refresh
//
// New fetches the JWKS once and fails if it cannot: a wrong URL or an
// unreachable issuer shows at deploy time, and a Verifier never exists
// without keys. After that the set is refreshed when it is older than
// CacheTTL (by the one request that finds it stale, without blocking the
// others), and when a token names an unknown kid (a rotation: credshield
// publishes a new key before it signs with it), at most once per
// MinRefreshInterval so garbage kids cannot make it hammer the issuer. A
// failed refresh keeps the last good set: an issuer outage does not take
// resource servers down with it. Only keys with "use" sig (or none), a
// kid, and an "alg" of EdDSA, ES256 or RS256 that suits the key are used;
// private key members make a key unusable.
//
// # What it cannot know
//
// It has no user table and no revocation list. On its own it cannot tell
// that a token's account was disabled, had its password reset or its scopes
// changed after the token was issued, or that the token's jti was revoked
// (POST /revoke): such a token verifies here until it expires. credshield's
// own /users/me and /verify (the forward-auth endpoint) enforce all of it.
// A resource server can do the same with [Config].CheckAccount: every
// token carries its account's epoch ([Claims].AccountEpoch, the "ae"
// claim), which credshield raises on each of those changes, and the hook
// refuses a token whose epoch is not the account's current one. Without a
// hook, sit behind /verify where that must hold at once, and keep access
// tokens short-lived to bound the rest.
//
// # What is stable
//
// credshield's public Go API is this package and the types it is built on:
// [Config] (its hooks CheckAccount, ProofTarget and AdmitProof included),
// [KeySource], [Verifier] and its methods, [Claims], [Error],
// [ClaimsFromContext], the embedded token.Claims fields (AccountEpoch
// included), and the dpop.ReplayCache interface, dpop.NonceSource and
// dpop.Checker (NewChecker and its Config) that Config takes. These
// keep their meaning across minor versions; a breaking change comes with a
// new major version of the module. The rest of packages token and dpop is
// exported because this package needs it, not for outside use, and may
// change in any release; everything under internal/ cannot be imported at
// all.
package verify
