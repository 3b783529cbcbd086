package server

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/device"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/store"
)

// deviceCookie is the browser's device credential. The __Host- prefix
// makes browsers refuse it unless it is Secure, has Path=/ and no Domain,
// so no subdomain can plant or read it.
const deviceCookie = "__Host-credshield-device"

// loginGate is what stands between a login attempt and whatever checks the
// password: the guard, the device credentials and challenges it relies on,
// and the refusals, metrics and logs it answers with. The token endpoint
// (Server) and the reverse proxy in front of another app's login
// (Proxy) hold one each, so both refuse, challenge and count in exactly
// the same way. Safe for concurrent use.
type loginGate struct {
	guard   Guard
	devices Devices
	chal    Challenges
	hasher  Hasher // bounds challenge verification (and, in Server, passwords)
	log     *slog.Logger
	metrics *Metrics
	denyLog *sampler // guard.deny records are sampled; metrics count all
	static  staticResponses
	now     func() time.Time
	// sameSite is the SameSite of the device cookie.
	sameSite http.SameSite
}

func newLoginGate(g Guard, devices Devices, chal Challenges, hasher Hasher, log *slog.Logger, metrics *Metrics, now func() time.Time, sameSite http.SameSite) (loginGate, error) {
	static, err := newStaticResponses()
	if err != nil {
		return loginGate{}, err
	}
	if sameSite == 0 {
		sameSite = http.SameSiteStrictMode
	}
	return loginGate{
		guard: g, devices: devices, chal: chal, hasher: hasher, log: log, metrics: metrics,
		denyLog: &sampler{perSecond: 10}, static: static, now: now, sameSite: sameSite,
	}, nil
}

// admit asks the guard about one login attempt, before anything checks a
// password: it verifies the challenge solution in req only if the guard
// asks for one. When the attempt is refused it writes the refusal (a
// challenge or a 429) and returns ok false with a nil error; a guard store
// failure is an error (the caller fails closed). trustName, if not empty,
// is the name known networks are kept under (guard.Attempt.TrustName).
func (g *loginGate) admit(ctx context.Context, w http.ResponseWriter, now time.Time, ip netip.Addr, req passwordGrant, deviceID, trustName string) (verdict guard.Verdict, ok bool, err error) {
	attempt := guard.Attempt{Username: req.username, IP: ip, Device: deviceID, TrustName: trustName}
	clientKey := challengeClientKey(ip.String(), req.username)
	if req.challenge != "" {
		attempt.Solve = func() (int, error) { return g.verifyChallenge(ctx, now, clientKey, req) }
	}
	verdict, err = g.guard.Check(ctx, now, attempt)
	if err != nil {
		g.metrics.attempt(outcomeUnavailable)
		return verdict, false, unavailable(err)
	}
	g.metrics.verdict(verdict)
	if !verdict.Allowed {
		return verdict, false, g.refuse(ctx, w, now, verdict, clientKey, ip.String(), req.username)
	}
	return verdict, true, nil
}

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
func (g *loginGate) issueDevice(ctx context.Context, w http.ResponseWriter, now time.Time, u store.User) string {
	c, err := g.devices.Issue(rand.Reader, now, u.Username, u.DeviceEpoch)
	if err != nil {
		g.log.LogAttrs(ctx, slog.LevelWarn, "device credential not issued", slog.String("sub", u.ID), slog.String("error", err.Error()))
		return ""
	}
	http.SetCookie(w, &http.Cookie{
		Name:     deviceCookie,
		Value:    c.Token,
		Path:     "/",
		Expires:  c.ExpiresAt,
		MaxAge:   int(g.devices.Lifetime() / time.Second),
		Secure:   true,
		HttpOnly: true,
		SameSite: g.sameSite,
	})
	g.metrics.device("issued")
	g.log.LogAttrs(ctx, slog.LevelInfo, "device.issue", slog.String("sub", u.ID), slog.String("username", u.Username), slog.String("device", c.ID))
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
func (g *loginGate) verifyChallenge(ctx context.Context, now time.Time, clientKey []byte, req passwordGrant) (int, error) {
	var c challenge.Challenge
	var verr error
	if err := g.hasher.Do(ctx, func() { c, verr = g.chal.Verify(ctx, now, clientKey, req.challenge, req.solution) }); err != nil {
		return 0, err
	}
	if verr != nil {
		g.metrics.challenge("rejected")
		return 0, verr
	}
	g.metrics.challenge("solved")
	return c.Difficulty, nil
}

// refuse answers an attempt the guard did not allow: a challenge to solve,
// or a 429. A challenge that cannot be issued (the replay cache is full)
// becomes a 429: never an allow.
func (g *loginGate) refuse(ctx context.Context, w http.ResponseWriter, now time.Time, v guard.Verdict, clientKey []byte, ip, username string) error {
	if v.Challenge > 0 {
		c, err := g.chal.Issue(ctx, now, clientKey, v.Challenge)
		if err == nil {
			g.metrics.attempt(outcomeChallenged)
			g.metrics.challenge("issued")
			w.Header().Set("Cache-Control", "no-store")
			writeJSON(w, http.StatusBadRequest, challenge.NewResponse(c))
			return nil
		}
		g.log.LogAttrs(ctx, slog.LevelWarn, "challenge not issued", slog.String("error", err.Error()))
		v.RetryAfter = max(v.RetryAfter, 10*time.Second)
	}
	g.metrics.attempt(outcomeDenied)
	if ok, suppressed := g.denyLog.allow(time.Now()); ok {
		g.log.LogAttrs(ctx, slog.LevelWarn, "guard.deny",
			slog.String("reason", string(v.Reason)), slog.String("trust", string(v.Trust)), slog.String("ip", ip),
			slog.String("username", username), slog.String("retry_after", v.RetryAfter.Round(time.Second).String()),
			slog.Int("suppressed_since_last", suppressed))
	}
	return g.tooManyAttempts(w, v)
}
