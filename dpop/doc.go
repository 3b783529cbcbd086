// Package dpop implements OAuth 2.0 Demonstrating Proof of Possession
// (RFC 9449) on go-jose: [NewProof] for clients, and [Checker] for
// authorization and resource servers, with a bounded replay cache and
// stateless server nonces.
//
// # Why DPoP
//
// A bearer token works for whoever holds it, so an access or refresh token
// stolen after a credential-stuffing success replays from anywhere. A
// DPoP-bound token names the thumbprint (jkt) of a client key; every request
// must carry a fresh proof signed by that key, naming the request's method
// and URL. Without the private key the token is worth nothing.
//
// # What the Checker enforces (RFC 9449 §4.3)
//
// The proof must be a compact JWS with typ dpop+jwt, an asymmetric algorithm
// from the configured list (none and HS* can never be configured), and a
// jwk header holding a public key only; it is verified with that key. htm
// must equal the request method; htu must equal the request URL after
// normalisation (scheme and host lower-case, default port dropped, query
// and fragment ignored on both sides). The URL the caller passes must come
// from configuration (--issuer or --resource-url) plus the request path,
// never from the request's Host header, or an attacker picks the URL the
// proof is compared with. iat must lie within the configured window, ath
// must be the hash of the presented access token, the nonce must be one the
// server issued when nonces are on, and the (jti, jkt) pair must not have
// been seen before. Replay entries are kept until the proof could no longer
// pass the iat check, and never evicted early: a full cache refuses new
// proofs (fails closed) rather than forgetting old ones. So that one token
// holder cannot fill it for everyone, one proof key may hold only a share of
// it (ErrReplayQuota, which callers answer with 429).
//
// The HTTP layer must pass exactly one DPoP header value: RFC 9449 §4.3
// refuses requests with more than one, and [ProofFromHeader] does that
// check. Check returns the proof key's RFC 7638 thumbprint, which the caller
// compares with (or writes into) the token's cnf.jkt.
package dpop
