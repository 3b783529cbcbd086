package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/token"
)

// Authorization schemes of a protected resource (RFC 6750 §2.1, RFC 9449
// §7.1).
const (
	schemeBearer = "Bearer"
	schemeDPoP   = "DPoP"
)

// authenticate checks the credentials of a request to a protected resource
// at now: a Bearer token, or a DPoP-bound token with a proof for method htm
// and URL htu (built from configuration, never the Host header; both ""
// when unknown, which refuses every bound token). A bound
// token sent as a Bearer token is refused (RFC 9449 §7.2): otherwise a
// stolen one would work without the key. Errors are *bearerError.
func (s *Server) authenticate(r *http.Request, now time.Time, htm, htu string) (*token.Claims, error) {
	scheme, raw, err := credentials(r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	if scheme == schemeBearer && s.cfg.RequireDPoP {
		return nil, &bearerError{Status: http.StatusUnauthorized, Scheme: schemeDPoP, Code: "invalid_token", Description: "a DPoP-bound token and proof are required"}
	}
	claims, err := s.verifier.Verify(now, raw)
	if err != nil {
		desc := "the access token is invalid"
		if errors.Is(err, token.ErrExpired) {
			desc = "the access token expired"
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "token.rejected", slog.String("remote", r.RemoteAddr), slog.String("error", err.Error()))
		return nil, &bearerError{Status: http.StatusUnauthorized, Scheme: scheme, Code: "invalid_token", Description: desc, Cause: err}
	}
	switch {
	case scheme == schemeBearer && claims.JKT != "":
		s.log.LogAttrs(ctx, slog.LevelWarn, "token.bound_as_bearer", slog.String("remote", r.RemoteAddr), slog.String("sub", claims.Subject))
		return nil, &bearerError{Status: http.StatusUnauthorized, Scheme: schemeBearer, Code: "invalid_token",
			Description: "the access token is DPoP-bound: send it with the DPoP scheme and a proof"}
	case scheme == schemeBearer:
		return claims, nil
	case claims.JKT == "":
		return nil, &bearerError{Status: http.StatusUnauthorized, Scheme: schemeDPoP, Code: "invalid_token", Description: "the access token is not DPoP-bound"}
	}
	if err := s.resourceProof(r, now, htm, htu, raw, claims.JKT); err != nil {
		return nil, err
	}
	return claims, nil
}

// resourceProof checks the request's DPoP proof against the token (ath)
// and the key the token is bound to (jkt). It runs on the client address's
// budget (guard.CheckAddress, the one refresh grants spend): a proof that
// fails keeps its unit spent, so a client sending bad, replayed or too many
// proofs meets a 429 before its proofs cost signature checks; one that
// passes, or lacks only a nonce, gives the unit back.
func (s *Server) resourceProof(r *http.Request, now time.Time, htm, htu, raw, jkt string) error {
	ctx := r.Context()
	if htm == "" || htu == "" {
		// /verify without a trusted proxy's account of the original
		// request: there is nothing to compare the proof with.
		return &bearerError{Status: http.StatusUnauthorized, Scheme: schemeDPoP, Code: "invalid_token",
			Description: "a DPoP-bound token needs the original method and URI from a trusted proxy"}
	}
	ip, err := s.clientIP.ClientIP(r.RemoteAddr, r.Header)
	if err != nil {
		return err
	}
	res, err := s.gate.AdmitAddress(ctx, now, gate.ResourceProof, ip)
	if err != nil {
		return err
	}
	defer res.Settle(gate.Aborted)
	err = s.checkResourceProof(ctx, r, now, htm, htu, raw, jkt)
	res.Settle(proofOutcome(err))
	return err
}

// proofOutcome settles the guard reservation a proof check ran on: the
// units back when the proof passed, when it lacked only a nonce (the
// protocol's normal first round) or when the server could not check it;
// spent when the client got the proof wrong or sent too many.
func proofOutcome(err error) gate.Outcome {
	var oe *oauthError
	var be *bearerError
	switch {
	case err == nil:
		return gate.Success
	case errors.As(err, &oe):
		if oe.Code == dpop.CodeUseNonce || oe.Status >= http.StatusInternalServerError {
			return gate.Invalid
		}
	case errors.As(err, &be):
		if be.Code == dpop.CodeUseNonce || be.Status >= http.StatusInternalServerError {
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

// checkResourceProof is resourceProof's check proper.
func (s *Server) checkResourceProof(ctx context.Context, r *http.Request, now time.Time, htm, htu, raw, jkt string) error {
	proof, err := dpop.ProofFromHeader(r.Header.Values("DPoP"))
	if err == nil {
		var got string
		got, err = s.dpop.Check(ctx, now, proof, htm, htu, raw, "")
		if err == nil {
			if subtle.ConstantTimeCompare([]byte(got), []byte(jkt)) != 1 {
				s.log.LogAttrs(ctx, slog.LevelWarn, "dpop.key_mismatch", slog.String("remote", r.RemoteAddr))
				return &bearerError{Status: http.StatusUnauthorized, Scheme: schemeDPoP, Code: dpop.CodeInvalidProof,
					Description: "the DPoP proof is not from the key the token is bound to"}
			}
			return nil
		}
	}
	if qe := s.replayQuota(err); qe != nil {
		return qe
	}
	var de *dpop.Error
	if errors.As(err, &de) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "dpop.rejected", slog.String("remote", r.RemoteAddr), slog.String("error", err.Error()))
		be := &bearerError{Status: http.StatusUnauthorized, Scheme: schemeDPoP, Code: de.Code, Description: de.Description(), Cause: err}
		if de.Code == dpop.CodeUseNonce {
			be.Nonce = s.dpop.Nonce(now)
		}
		return be
	}
	if errors.Is(err, dpop.ErrConfig) { // a request URL that is not one (never from a configured issuer)
		return &bearerError{Status: http.StatusUnauthorized, Scheme: schemeDPoP, Code: dpop.CodeInvalidProof, Description: "the DPoP proof is invalid", Cause: err}
	}
	return unavailable(err)
}

// credentials reads the Authorization header: exactly one, scheme Bearer or
// DPoP, token68 syntax. Tokens in the query string or form body (RFC 6750
// §2.2, §2.3) are not accepted: they leak into logs and caches.
func credentials(r *http.Request) (scheme, raw string, err error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", "", errNoToken
	}
	if len(values) > 1 {
		return "", "", &bearerError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one Authorization header"}
	}
	s, tok, ok := strings.Cut(values[0], " ")
	switch {
	case strings.EqualFold(s, schemeBearer):
		scheme = schemeBearer
	case strings.EqualFold(s, schemeDPoP):
		scheme = schemeDPoP
	default: // another scheme (Basic) is no credential of ours (RFC 6750 §3.1)
		return "", "", errNoToken
	}
	tok = strings.TrimLeft(tok, " ")
	if !ok || tok == "" || !isToken68(tok) {
		return "", "", &bearerError{Status: http.StatusUnauthorized, Scheme: scheme, Code: "invalid_token", Description: "the access token is malformed"}
	}
	return scheme, tok, nil
}
