// Package challenge is a memory-hard proof of work that the login guard
// demands from untrusted clients when the service is under attack or a
// client has spent its soft budget. Each evaluation is one argon2id hash
// (RFC 9106) of about 1 MiB, t=1, p=1: memory bandwidth, not arithmetic,
// bounds it, so a GPU or a botnet's server gains little over a phone, and
// an attacker who wants N guesses pays N × 2^difficulty evaluations.
//
// Challenges are stateless: the server signs them with HMAC-SHA256 and
// keeps nothing until a solution comes back. A solution is accepted once:
// a [ReplayCache] remembers each spent challenge until it expires, never
// evicting earlier, and when it is full the [Issuer] stops issuing (the
// guard then denies) instead of forgetting spent challenges.
//
// The server side is [Issuer] ([Issuer.Issue], [Issuer.Verify]). The
// client side is [Decode] and [Solve], which need no key and import
// nothing of the server, so third parties can use this package as their
// solver; `credshield challenge solve` wraps it for scripts.
//
// # Wire format, version 1
//
// A challenge travels as a token: the 88 bytes below in unpadded base64url
// (RFC 4648 §5), always 118 characters. Integers are big-endian.
//
//	offset size field
//	     0    1 version, 1
//	     1    4 argon2 memory m in KiB (uint32), 1024 by default
//	     5    1 argon2 time t, passes (uint8), 1 by default
//	     6    1 argon2 threads p, lanes (uint8), 1 by default
//	     7    1 difficulty d: leading zero bits required (uint8, 1..32)
//	     8   16 nonce, random
//	    24    8 issued at, Unix seconds (int64)
//	    32    8 expires at, Unix seconds (int64)
//	    40   16 client binding: HMAC-SHA256(client key, client key string)[:16]
//	    56   32 tag: HMAC-SHA256(MAC key, bytes 0..55)
//
// The client binding hides the server's client key (say
// "ip:203.0.113.7|user:alice") from the client while tying the challenge
// to it. The MAC and client keys are derived from the Issuer's key with
// HKDF-SHA256 (RFC 5869; info "credshield challenge v1 mac" and
// "credshield challenge v1 client"). Only the server can check the tag
// and the binding; everything else is readable by the solver.
//
// # Solving
//
// Let token be the 88 decoded bytes and nonce its bytes 8..23. For a
// counter c (uint64), one evaluation is
//
//	salt     = SHA-256(token)                       // 32 bytes
//	password = nonce || uint64be(c)                 // 24 bytes
//	out      = argon2id(password, salt, t, m, p, tagLength=32), version 0x13
//
// and c solves the challenge when out starts with at least d zero bits,
// counted from the most significant bit of out[0]. A solver tries
// counters until one fits; the expected number of evaluations is 2^d, and
// the server spends exactly one to verify. The solution is c in decimal
// ASCII ("0" to "18446744073709551615", no sign, no leading zeros); a
// browser using a WebAssembly argon2 (BigInt counters are not needed
// below 2^53) sends it back in the form fields
//
//	challenge=<token>&challenge_solution=<decimal counter>
//
// next to the username and password it retries. Package
// challenge/browser is such a solver: credshield.js and a Web Worker
// running hash-wasm's argon2id, served by serve and protect. testdata/v1.json holds a
// test vector: a token with its salt, one evaluation and a solution.
//
// # Verification order
//
// [Issuer.Verify] does the cheap checks first, each with its own
// sentinel error: decode ([ErrMalformed]), constant-time tag check
// ([ErrSignature]), expiry ([ErrExpired]), client binding
// ([ErrWrongClient]), spending the nonce in the replay cache
// ([ErrReplayed], [ErrReplayCacheFull]), and only then the one argon2id
// evaluation ([ErrInsufficientWork]). A challenge is spent before its
// solution is checked, so a wrong solution burns it too: each challenge
// costs the server at most one evaluation, however often it is sent.
package challenge
