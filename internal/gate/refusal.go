package gate

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/httpapi"
)

// Refusal is an attempt the guard did not allow: a challenge to solve
// (400 challenge_required) or a 429. It is an error that renders itself
// (httpapi.Responder), so that every caller answers a refusal in one
// shape; the gate decides, the caller writes.
type Refusal struct {
	// Verdict is the guard's refusal.
	Verdict guard.Verdict
	// Challenge is set when the client must solve it; nil for a 429.
	Challenge *challenge.Challenge
	tooMany   *tooManyBody
}

func (r *Refusal) Error() string {
	if r.Challenge != nil {
		return "challenge required"
	}
	return "too many attempts: " + string(r.Verdict.Reason)
}

var _ httpapi.Responder = (*Refusal)(nil)

// WriteResponse writes the refusal: the challenge as a 400
// challenge_required, or the 429 with Retry-After and the IETF
// RateLimit-Policy / RateLimit fields describing the client's own
// standing, never an account's — the per-address budget, or a device
// credential's own — except for a trusted client refused by the
// account's success budget, which knows the account. The 429 body is the
// same whatever the username, so it says nothing about existence.
func (r *Refusal) WriteResponse(w http.ResponseWriter) {
	if r.Challenge != nil {
		w.Header().Set("Cache-Control", "no-store")
		httpapi.WriteJSON(w, http.StatusBadRequest, challenge.NewResponse(*r.Challenge))
		return
	}
	h := w.Header()
	r.setHeaders(h, true)
	h["Content-Type"] = r.tooMany.jsonType
	h["Content-Length"] = r.tooMany.length
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(r.tooMany.body)
}

// RetryAfterSeconds is the 429's Retry-After in whole seconds, at least 1.
func (r *Refusal) RetryAfterSeconds() int {
	return max(int(math.Ceil(r.Verdict.RetryAfter.Seconds())), 1)
}

// SetRateLimitHeaders sets the IETF RateLimit-Policy and RateLimit fields
// of a 429 on h (see WriteResponse), for a caller that answers the
// refusal in another shape; it sets nothing when the verdict names no
// budget.
func (r *Refusal) SetRateLimitHeaders(h http.Header) { r.setHeaders(h, false) }

// setHeaders sets the RateLimit fields, and Retry-After when retryAfter.
// This is the hot path of an attack: the header values share one string
// and one slice (two allocations in all).
func (r *Refusal) setHeaders(h http.Header, retryAfter bool) {
	v := r.Verdict
	var buf [96]byte
	b := strconv.AppendInt(buf[:0], int64(r.RetryAfterSeconds()), 10)
	nRetry := len(b)
	if v.IPPolicy.Burst <= 0 {
		if retryAfter {
			h["Retry-After"] = []string{string(b)}
		}
		return
	}
	name := v.PolicyName
	switch {
	case name != "":
	case v.Trust == guard.TrustDevice:
		name = "device"
	default:
		name = "ip"
	}
	b = strconv.AppendInt(append(append(append(b, '"'), name...), `";q=`...), int64(v.IPPolicy.Burst), 10)
	b = strconv.AppendInt(append(b, ";w="...), int64(v.IPPolicy.Period/time.Second), 10)
	nPolicy := len(b)
	b = strconv.AppendInt(append(append(append(b, '"'), name...), `";r=`...), int64(v.IPState.Remaining), 10)
	b = strconv.AppendInt(append(b, ";t="...), int64(math.Ceil(v.IPState.ResetAfter.Seconds())), 10)
	fields := string(b)
	vals := []string{fields[:nRetry], fields[nRetry:nPolicy], fields[nPolicy:]}
	if retryAfter {
		h["Retry-After"] = vals[0:1:1]
	}
	h["Ratelimit-Policy"] = vals[1:2:2]
	h["Ratelimit"] = vals[2:3:3]
}

// refuse turns a refusing verdict into a Refusal: a challenge to solve,
// or a 429. A challenge that cannot be issued (the replay cache is full)
// becomes a 429: never an allow.
func (g *Gate) refuse(ctx context.Context, now time.Time, a Attempt, v guard.Verdict) *Refusal {
	if v.Challenge > 0 {
		var clientKey []byte // none for AdmitAddress, which names no account (and is never challenged)
		if a.Username != "" {
			clientKey = challengeClientKey(a.IP, a.Username)
		}
		c, err := g.chal.Issue(ctx, now, clientKey, v.Challenge)
		if err == nil {
			g.metrics.attempt(a.Kind, outcomeChallenged)
			g.metrics.challenge("issued")
			return &Refusal{Verdict: v, Challenge: &c, tooMany: &g.tooMany}
		}
		g.log.LogAttrs(ctx, slog.LevelWarn, "challenge not issued", slog.String("error", err.Error()))
		v.RetryAfter = max(v.RetryAfter, 10*time.Second)
	}
	g.metrics.attempt(a.Kind, outcomeDenied)
	if ok, suppressed := g.denyLog.allow(time.Now()); ok {
		g.log.LogAttrs(ctx, slog.LevelWarn, "guard.deny",
			slog.String("reason", string(v.Reason)), slog.String("trust", string(v.Trust)), slog.String("ip", a.IP.String()),
			slog.String("username", a.Username), slog.String("retry_after", v.RetryAfter.Round(time.Second).String()),
			slog.Int("suppressed_since_last", suppressed))
	}
	return &Refusal{Verdict: v, tooMany: &g.tooMany}
}

// tooManyBody is the 429's body and header values, built once in New and
// shared by every response (header value slices are never modified after
// they are set).
type tooManyBody struct {
	jsonType []string
	body     []byte
	length   []string
}

func newTooManyBody() (tooManyBody, error) {
	const desc = "Too many login attempts. Try again later."
	b, err := json.Marshal(httpapi.ErrorBody{Error: "too_many_attempts", Description: desc, Detail: desc})
	if err != nil {
		return tooManyBody{}, err
	}
	b = append(b, '\n')
	return tooManyBody{jsonType: []string{"application/json"}, body: b, length: []string{strconv.Itoa(len(b))}}, nil
}
