package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/verify"
)

// Authorization schemes of a protected resource (RFC 6750 §2.1, RFC 9449
// §7.1).
const (
	schemeBearer = "Bearer"
	schemeDPoP   = "DPoP"
)

// tokenProof checks the DPoP proof sent to POST /token (RFC 9449 §5) and
// returns its key's thumbprint, which the issued tokens are bound to; "" when
// the client sent no proof and binding is optional. htu is built from the
// configured issuer, never from the Host header.
func (s *Server) tokenProof(ctx context.Context, r *http.Request, now time.Time) (string, error) {
	values := r.Header.Values("DPoP")
	if len(values) == 0 {
		if s.cfg.RequireDPoP {
			return "", &oauthError{Status: http.StatusBadRequest, Code: dpop.CodeInvalidProof, Description: "a DPoP proof is required"}
		}
		return "", nil
	}
	proof, err := dpop.ProofFromHeader(values)
	if err == nil {
		var jkt string
		jkt, err = s.dpop.Check(ctx, now, proof, http.MethodPost, s.cfg.Issuer+"/token", "", "")
		if err == nil {
			return jkt, nil
		}
	}
	if qe := s.replayQuota(err); qe != nil {
		return "", qe
	}
	var de *dpop.Error
	if errors.As(err, &de) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "dpop.rejected", slog.String("remote", r.RemoteAddr), slog.String("error", err.Error()))
		oe := &oauthError{Status: http.StatusBadRequest, Code: de.Code, Description: de.Description(), Cause: err}
		if de.Code == dpop.CodeUseNonce {
			oe.Nonce = s.dpop.Nonce(now)
		}
		return "", oe
	}
	// A full or unreachable replay cache: fail closed, but as the
	// server's condition, not the client's.
	return "", unavailable(err)
}

// admitProof is verify's AdmitProof for the resource endpoints: each
// DPoP proof is checked on the client address's budget (guard.CheckAddress,
// the one refresh grants spend). A proof that fails keeps its unit spent,
// so a client sending bad, replayed or too many proofs meets the guard's
// 429 before its proofs cost signature checks; one that passes, or lacks
// only a nonce, gives the unit back.
func (s *Server) admitProof(r *http.Request) (func(error), error) {
	ctx := r.Context()
	ip, err := s.clientIP.ClientIP(r.RemoteAddr, r.Header)
	if err != nil {
		return nil, err
	}
	verdict, err := s.guard.CheckAddress(ctx, s.cfg.Now(), ip)
	if err != nil {
		return nil, unavailableResource(err)
	}
	s.metrics.verdict(verdict)
	if !verdict.Allowed {
		// handle renders it as every guard 429 is.
		return nil, &verify.Error{Status: http.StatusTooManyRequests, Code: "too_many_attempts",
			RetryAfter: verdict.RetryAfter, Err: &deniedError{verdict: verdict}}
	}
	return func(err error) { s.record(ctx, verdict, proofOutcome(err)) }, nil
}

// proofOutcome settles the guard reservation a proof check ran on: the
// units back when the proof passed, when it lacked only a nonce (the
// protocol's normal first round) or when the server could not check it;
// spent when the client got the proof wrong or sent too many.
func proofOutcome(err error) guard.Outcome {
	var oe *oauthError
	var ve *verify.Error
	switch {
	case err == nil:
		return guard.Success
	case errors.As(err, &oe):
		if oe.Code == dpop.CodeUseNonce || oe.Status >= http.StatusInternalServerError {
			return guard.Aborted
		}
	case errors.As(err, &ve):
		if ve.Code == dpop.CodeUseNonce || ve.Status >= http.StatusInternalServerError {
			return guard.Aborted
		}
	}
	return guard.Failure
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

// tokenProofAfterGuard is tokenProof for a grant the guard has already
// allowed: a bad proof settles the reservation as a failure (it keeps its
// units, so junk proofs cost their sender budget), while a request for a
// nonce, or a replay cache the server cannot reach, gives them back.
func (s *Server) tokenProofAfterGuard(ctx context.Context, r *http.Request, now time.Time, v guard.Verdict) (string, error) {
	jkt, err := s.tokenProof(ctx, r, now)
	if err == nil {
		return jkt, nil
	}
	s.record(ctx, v, proofOutcome(err))
	s.metrics.attempt(outcomeInvalid)
	return "", err
}
