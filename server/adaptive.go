package server

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/credshield/credshield/challenge"
	"github.com/credshield/credshield/device"
	"github.com/credshield/credshield/guard"
	"github.com/credshield/credshield/store"
)

// deviceCookie is the browser's device credential. The __Host- prefix
// makes browsers refuse it unless it is Secure, has Path=/ and no Domain,
// so no subdomain can plant or read it.
const deviceCookie = "__Host-credshield-device"

// trustedDevice checks the device credential of req, if any. It costs one
// HMAC for a forged or foreign credential; a genuine one for this username
// also reads the account, to reject credentials revoked by a reset or a
// disable (their epoch is older). The account read is returned so the
// password step does not repeat it. A credential that fails is ignored:
// the client is simply untrusted.
func (s *Server) trustedDevice(ctx context.Context, now time.Time, req passwordGrant) (device.Credential, store.User, bool, error) {
	if req.device == "" {
		return device.Credential{}, store.User{}, false, nil
	}
	c, err := s.devices.Verify(now, req.device, req.username)
	if err != nil {
		return device.Credential{}, store.User{}, false, nil
	}
	u, err := s.users.UserByName(ctx, req.username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return device.Credential{}, store.User{}, false, nil
	case err != nil:
		return device.Credential{}, store.User{}, false, err
	}
	if u.Disabled || device.CheckEpoch(c, u.DeviceEpoch) != nil {
		s.metrics.device("revoked_seen")
		return device.Credential{}, u, true, nil
	}
	return c, u, true, nil
}

// issueDevice gives the client a fresh device credential after a
// successful login: as a cookie for browsers and in the JSON for API
// clients. A failure is logged, never fatal: the login succeeded.
func (s *Server) issueDevice(ctx context.Context, w http.ResponseWriter, now time.Time, u store.User) string {
	c, err := s.devices.Issue(rand.Reader, now, u.Username, u.DeviceEpoch)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "device credential not issued", slog.String("sub", u.ID), slog.String("error", err.Error()))
		return ""
	}
	http.SetCookie(w, &http.Cookie{
		Name:     deviceCookie,
		Value:    c.Token,
		Path:     "/",
		Expires:  c.ExpiresAt,
		MaxAge:   int(s.devices.Lifetime() / time.Second),
		Secure:   true,
		HttpOnly: true,
		SameSite: s.cfg.DeviceCookieSameSite,
	})
	s.metrics.device("issued")
	s.log.LogAttrs(ctx, slog.LevelInfo, "device.issue", slog.String("sub", u.ID), slog.String("device", c.ID))
	return c.Token
}

// challengeClientKey binds a challenge to the client address and the
// username, so a solution bought on one address or for one account cannot
// be spent on another.
func challengeClientKey(ip, username string) []byte {
	return []byte("ip:" + ip + "|user:" + username)
}

// verifyChallenge checks the solution in req inside the hasher pool: the
// one argon2id evaluation it costs is bounded like every other hash. The
// guard calls it only when a challenge is due and the hard budgets allow
// the attempt.
func (s *Server) verifyChallenge(ctx context.Context, now time.Time, clientKey []byte, req passwordGrant) (int, error) {
	var c challenge.Challenge
	var verr error
	if err := s.hasher.Do(ctx, func() { c, verr = s.chal.Verify(ctx, now, clientKey, req.challenge, req.solution) }); err != nil {
		return 0, err
	}
	if verr != nil {
		s.metrics.challenge("rejected")
		return 0, verr
	}
	s.metrics.challenge("solved")
	return c.Difficulty, nil
}

// refuse answers an attempt the guard did not allow: a challenge to solve,
// or a 429. A challenge that cannot be issued (the replay cache is full)
// becomes a 429: never an allow.
func (s *Server) refuse(ctx context.Context, w http.ResponseWriter, now time.Time, v guard.Verdict, clientKey []byte, ip, username string) error {
	if v.Challenge > 0 {
		c, err := s.chal.Issue(ctx, now, clientKey, v.Challenge)
		if err == nil {
			s.metrics.attempt(outcomeChallenged)
			s.metrics.challenge("issued")
			w.Header().Set("Cache-Control", "no-store")
			writeJSON(w, http.StatusBadRequest, challenge.NewResponse(c))
			return nil
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "challenge not issued", slog.String("error", err.Error()))
		v.RetryAfter = max(v.RetryAfter, 10*time.Second)
	}
	s.metrics.attempt(outcomeDenied)
	if ok, suppressed := s.denyLog.allow(time.Now()); ok {
		s.log.LogAttrs(ctx, slog.LevelWarn, "guard.deny",
			slog.String("reason", string(v.Reason)), slog.String("trust", string(v.Trust)), slog.String("ip", ip),
			slog.String("username", username), slog.String("retry_after", v.RetryAfter.Round(time.Second).String()),
			slog.Int("suppressed_since_last", suppressed))
	}
	return s.tooManyAttempts(w, v)
}
