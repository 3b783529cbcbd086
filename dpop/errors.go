package dpop

import "errors"

// RFC 9449 error codes (§5, §7.1, §8, §9). They are what a client sees, in the
// token endpoint's error member or the WWW-Authenticate error parameter.
const (
	CodeInvalidProof = "invalid_dpop_proof" // the proof is missing, malformed or fails a check
	CodeUseNonce     = "use_dpop_nonce"     // retry with the nonce in the DPoP-Nonce header
)

// Reasons a proof is refused. Check wraps exactly one of these inside an
// *Error, so callers can count and log the kind with errors.Is while the
// client only sees Error.Code.
var (
	ErrMalformed     = errors.New("dpop: malformed proof")
	ErrHeaderCount   = errors.New("dpop: not exactly one DPoP header")
	ErrType          = errors.New("dpop: typ is not dpop+jwt")
	ErrAlgorithm     = errors.New("dpop: algorithm not allowed")
	ErrKey           = errors.New("dpop: missing or unusable jwk")
	ErrPrivateKey    = errors.New("dpop: jwk holds private key material")
	ErrSignature     = errors.New("dpop: bad signature")
	ErrMissingClaim  = errors.New("dpop: missing claim")
	ErrMethod        = errors.New("dpop: htm does not match the request method")
	ErrURL           = errors.New("dpop: htu does not match the request URL")
	ErrStale         = errors.New("dpop: iat too old")
	ErrFuture        = errors.New("dpop: iat in the future")
	ErrAccessToken   = errors.New("dpop: ath does not match the access token")
	ErrReplay        = errors.New("dpop: proof replayed")
	ErrNonceRequired = errors.New("dpop: missing or stale nonce")
)

// ErrReplayCacheFull reports that the replay cache holds its capacity of
// unexpired proofs. Check returns it unwrapped by *Error: it is the server's
// condition, not the proof's, and callers should answer 503 (fail closed).
var ErrReplayCacheFull = errors.New("dpop: replay cache full")

// ErrReplayQuota reports that the proof's key already holds its share of
// the replay cache (see ReplayCache). Check returns it unwrapped by *Error:
// the proof may be sound, but its holder is sending proofs faster than the
// cache may remember for one key; callers should answer 429 with a
// Retry-After of the iat window, so one token holder cannot fill the cache
// every other client needs.
var ErrReplayQuota = errors.New("dpop: too many recent proofs from one key")

// ErrConfig reports a Checker or NonceSource that cannot check safely.
var ErrConfig = errors.New("dpop: misconfigured")

// Error is a refused proof: Code is the RFC 9449 code for the client, Err
// the sentinel cause (never sent to the client; it may name what was wrong).
type Error struct {
	Code string
	Err  error
}

// Error returns the code and the cause, for logs.
func (e *Error) Error() string { return e.Code + ": " + e.Err.Error() }

// Unwrap exposes the sentinel cause to errors.Is.
func (e *Error) Unwrap() error { return e.Err }

// Description is a short, client-safe error_description for e.
func (e *Error) Description() string {
	if e.Code == CodeUseNonce {
		return "a DPoP nonce is required: retry with the DPoP-Nonce value"
	}
	return "the DPoP proof is invalid"
}

func invalid(err error) *Error { return &Error{Code: CodeInvalidProof, Err: err} }
