package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/httpapi"
	"github.com/credshield/credshield/verify"
)

// Authorization schemes of a protected resource (RFC 6750 §2.1, RFC 9449
// §7.1).
const (
	schemeBearer = "Bearer"
	schemeDPoP   = "DPoP"
)

// admitProof is verify's AdmitProof for the resource endpoints: each
// DPoP proof is checked on the client address's budget (the one refresh
// grants spend). A proof that fails keeps its unit spent, so a client
// sending bad, replayed or too many proofs meets the gate's 429 before
// its proofs cost signature checks; one that passes, or lacks only a
// nonce, gives the unit back.
func (s *Server) admitProof(r *http.Request) (func(error), error) {
	ctx := r.Context()
	ip, err := s.clientIP.ClientIP(r.RemoteAddr, r.Header)
	if err != nil {
		return nil, err
	}
	res, err := s.gate.AdmitAddress(ctx, s.cfg.Now(), gate.ResourceProof, ip)
	if err != nil {
		var refusal *gate.Refusal
		if errors.As(err, &refusal) {
			// handle renders it as every gate refusal is rendered.
			return nil, &verify.Error{Status: http.StatusTooManyRequests, Code: "too_many_attempts",
				RetryAfter: refusal.Verdict.RetryAfter, Err: refusal}
		}
		return nil, unavailableResource(err)
	}
	return func(err error) { res.Settle(proofOutcome(err)) }, nil
}

// proofOutcome settles the reservation a proof check ran on: the units
// back when the proof passed, when it lacked only a nonce (the protocol's
// normal first round) or when the server could not check it; spent when
// the client got the proof wrong or sent too many.
func proofOutcome(err error) gate.Outcome {
	var oe *oauthError
	var ve *verify.Error
	switch {
	case err == nil:
		return gate.Success
	case errors.As(err, &oe):
		if oe.Code == dpop.CodeUseNonce || oe.Status >= http.StatusInternalServerError {
			return gate.Invalid
		}
	case errors.As(err, &ve):
		if ve.Code == dpop.CodeUseNonce || ve.Status >= http.StatusInternalServerError {
			return gate.Invalid
		}
	}
	return gate.Rejected
}

// replayQuota answers a proof refused because its key holds its share of
// the replay cache (dpop.ErrReplayQuota): 429 until the key's older proofs
// expire, not the 503 of a full cache, since only that key is refused.
func (s *Server) replayQuota(err error) *oauthError {
	if !errors.Is(err, dpop.ErrReplayQuota) {
		return nil
	}
	const desc = "Too many requests with this DPoP key. Try again later."
	return &oauthError{Status: http.StatusTooManyRequests, Code: "too_many_requests", Description: desc,
		RetryAfter: int(s.dpop.IATWindow()/time.Second) + 1, Cause: err}
}

// isResponder reports whether err renders itself (a gate refusal).
func isResponder(err error) bool {
	var r httpapi.Responder
	return errors.As(err, &r)
}
