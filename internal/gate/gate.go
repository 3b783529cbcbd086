// Package gate is the login gate: what stands between a login attempt and
// whatever checks its password — the token service's own hash (package
// server) or another app's login behind the gateway (package protect).
//
// Admit asks the guard about one attempt before anything costly runs and
// returns either a Reservation or a Refusal (as its error); it never
// writes a response, the caller renders the refusal (Refusal is an
// httpapi.Responder, so httpapi.WriteError renders it). A
// Reservation must be settled exactly once: take it, defer
// res.Settle(Aborted) at once, and settle it with the real outcome where
// it is known; Settle records the guard outcome, the metric and the log
// event together and ignores every later call, so no exit can forget the
// reservation or settle it twice (the way x/time/rate's Reservation owns
// its own undo).
package gate

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/device"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/httpapi"
)

// DeviceCookie is the browser's device credential. The __Host- prefix
// makes browsers refuse it unless it is Secure, has Path=/ and no Domain,
// so no subdomain can plant or read it.
const DeviceCookie = "__Host-credshield-device"

// Guard decides, before any account is looked up, whether a login attempt
// may reach the password check (package guard).
type Guard interface {
	Check(ctx context.Context, now time.Time, a guard.Attempt) (guard.Verdict, error)
	CheckAddress(ctx context.Context, now time.Time, ip netip.Addr) (guard.Verdict, error)
	Record(ctx context.Context, now time.Time, v guard.Verdict, o guard.Outcome) error
}

// Devices issues and checks device credentials (package device).
type Devices interface {
	Issue(rand io.Reader, now time.Time, username string, epoch uint32) (device.Credential, error)
	Verify(now time.Time, token, username string) (device.Credential, error)
	Lifetime() time.Duration
}

// Challenges issues and verifies proof-of-work challenges (package
// challenge).
type Challenges interface {
	Issue(ctx context.Context, now time.Time, clientKey []byte, difficulty int) (challenge.Challenge, error)
	Verify(ctx context.Context, now time.Time, clientKey []byte, encoded, solution string) (challenge.Challenge, error)
}

// Pool runs costly work (a challenge's argon2id evaluation) with bounded
// concurrency, failing fast rather than queueing without limit.
type Pool interface {
	Do(ctx context.Context, fn func()) error
}

// Deps are the parts a Gate is built from; all are required except
// Metrics.
type Deps struct {
	Guard      Guard
	Devices    Devices
	Challenges Challenges
	Pool       Pool
	Log        *slog.Logger
	Metrics    *Metrics
	// Now is the guard's clock for settling; default time.Now.
	Now func() time.Time
	// SameSite is the SameSite of the device cookie; default Strict.
	SameSite http.SameSite
}

// Gate admits login attempts. Build it with New (the zero value has no
// guard and is not usable); it is safe for concurrent use.
type Gate struct {
	guard    Guard
	devices  Devices
	chal     Challenges
	pool     Pool
	log      *slog.Logger
	metrics  *Metrics
	denyLog  *sampler // guard.deny records are sampled; metrics count all
	tooMany  tooManyBody
	now      func() time.Time
	sameSite http.SameSite
}

// New builds a Gate.
func New(d Deps) (*Gate, error) {
	tooMany, err := newTooManyBody()
	if err != nil {
		return nil, err
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.SameSite == 0 {
		d.SameSite = http.SameSiteStrictMode
	}
	return &Gate{
		guard: d.Guard, devices: d.Devices, chal: d.Challenges, pool: d.Pool, log: d.Log, metrics: d.Metrics,
		denyLog: &sampler{perSecond: 10}, tooMany: tooMany, now: d.Now, sameSite: d.SameSite,
	}, nil
}

// Kind is what an attempt tries, which names its metric and its log
// events.
type Kind uint8

const (
	// Login is a password login: a password grant at POST /token or a
	// login through the gateway (credshield_login_attempts_total; events
	// login.success, login.failure, login.scope_refused, login.unsettled).
	Login Kind = iota
	// Refresh is a refresh_token grant (credshield_refresh_attempts_total;
	// events refresh.success, refresh.failure, refresh.unsettled).
	Refresh
	// ResourceProof is a DPoP proof sent to a protected resource: it
	// spends the client address's budget but counts no attempt and logs
	// no event.
	ResourceProof
)

func (k Kind) event() string {
	switch k {
	case Login:
		return "login."
	case Refresh:
		return "refresh."
	}
	return ""
}

// Attempt is what the gate knows of a login before any password is
// checked.
type Attempt struct {
	Kind     Kind
	Username string // normalised; "" for an address-only check
	IP       netip.Addr
	// Device is the id of a genuine device credential for Username; ""
	// when none.
	Device string
	// TrustName is the name known networks are kept under
	// (guard.Attempt.TrustName); "" means Username.
	TrustName string
	// Challenge and Solution answer an earlier challenge_required.
	Challenge, Solution string
}

// Admit asks the guard about a, before anything checks a password: it
// verifies the challenge solution in a only if the guard asks for one.
// It returns a Reservation for an allowed attempt; otherwise the error is
// a *Refusal (a challenge, or a 429) for a refused one, or an httpapi 503
// when the guard cannot decide — the caller fails closed. Either error
// renders itself through httpapi.WriteError: the gate decides, the
// caller writes.
func (g *Gate) Admit(ctx context.Context, now time.Time, a Attempt) (*Reservation, error) {
	attempt := guard.Attempt{Username: a.Username, IP: a.IP, Device: a.Device, TrustName: a.TrustName}
	if a.Challenge != "" {
		attempt.Solve = func() (int, error) {
			return g.verifyChallenge(ctx, now, challengeClientKey(a.IP, a.Username), a.Challenge, a.Solution)
		}
	}
	verdict, err := g.guard.Check(ctx, now, attempt)
	return g.decided(ctx, now, a, verdict, err)
}

// AdmitAddress is Admit on the client address's budget alone: no account
// budget and no challenge, for credentials nobody can guess (a refresh
// token, a DPoP proof) where a flood must still stop before it costs a
// database read or a signature check.
func (g *Gate) AdmitAddress(ctx context.Context, now time.Time, k Kind, ip netip.Addr) (*Reservation, error) {
	verdict, err := g.guard.CheckAddress(ctx, now, ip)
	return g.decided(ctx, now, Attempt{Kind: k, IP: ip}, verdict, err)
}

func (g *Gate) decided(ctx context.Context, now time.Time, a Attempt, verdict guard.Verdict, err error) (*Reservation, error) {
	if err != nil {
		g.metrics.attempt(a.Kind, outcomeUnavailable)
		return nil, httpapi.Unavailable(err)
	}
	g.metrics.verdict(verdict)
	if !verdict.Allowed {
		return nil, g.refuse(ctx, now, a, verdict)
	}
	res := &Reservation{g: g, ctx: context.WithoutCancel(ctx), kind: a.Kind, verdict: verdict}
	if a.Username != "" {
		res.attrs = append(res.attrs, slog.String("username", a.Username))
	}
	res.attrs = append(res.attrs, slog.String("ip", a.IP.String()))
	return res, nil
}

// Count counts an attempt of kind k that ended with o before any
// reservation was taken (a request that cannot be parsed, a store that
// cannot say whether a device credential is revoked). After admission
// Settle counts.
func (g *Gate) Count(k Kind, o Outcome) { g.metrics.attempt(k, o.metric()) }

// Device returns the device credential token proves for username, if it
// is genuine and unexpired; a credential that fails is ignored, the
// client is simply untrusted. Checking the account's epoch (a reset or a
// disable revokes) is the caller's: only it has accounts.
func (g *Gate) Device(now time.Time, token, username string) (device.Credential, bool) {
	if token == "" {
		return device.Credential{}, false
	}
	c, err := g.devices.Verify(now, token, username)
	return c, err == nil
}

// IssueDevice gives the client a fresh device credential after a
// successful login, bound to username and the account's epoch: as a
// cookie for browsers, and returned for API clients. A failure is logged,
// never fatal: the login succeeded. sub names the account in the log.
func (g *Gate) IssueDevice(ctx context.Context, w http.ResponseWriter, now time.Time, sub, username string, epoch uint32) string {
	c, err := g.devices.Issue(rand.Reader, now, username, epoch)
	if err != nil {
		g.log.LogAttrs(ctx, slog.LevelWarn, "device credential not issued", slog.String("sub", sub), slog.String("error", err.Error()))
		return ""
	}
	http.SetCookie(w, &http.Cookie{
		Name:     DeviceCookie,
		Value:    c.Token,
		Path:     "/",
		Expires:  c.ExpiresAt,
		MaxAge:   int(g.devices.Lifetime() / time.Second),
		Secure:   true,
		HttpOnly: true,
		SameSite: g.sameSite,
	})
	g.metrics.Device("issued")
	g.log.LogAttrs(ctx, slog.LevelInfo, "device.issue", slog.String("sub", sub), slog.String("username", username), slog.String("device", c.ID))
	return c.Token
}

// Credentials are what a client may send the gate besides its password:
// a device credential and the answer to a challenge.
type Credentials struct {
	Device              string
	Challenge, Solution string
}

// ReadCredentials reads Credentials from a parsed form: the device
// credential from the form field device_token, then the header named
// header (when not ""), then the device cookie; the challenge and its
// solution from their form fields, both or neither.
func ReadCredentials(r *http.Request, form map[string]string, header string) (Credentials, error) {
	c := Credentials{Device: form["device_token"]}
	if c.Device == "" && header != "" {
		c.Device = r.Header.Get(header)
	}
	if c.Device == "" {
		if ck, err := r.Cookie(DeviceCookie); err == nil {
			c.Device = ck.Value
		}
	}
	c.Challenge, c.Solution = form[challenge.FormToken], form[challenge.FormSolution]
	if (c.Challenge == "") != (c.Solution == "") {
		return c, httpapi.InvalidRequest("send both %s and %s, or neither", challenge.FormToken, challenge.FormSolution)
	}
	return c, nil
}

// challengeClientKey binds a challenge to the client address and the
// username, so a solution bought on one address or for one account cannot
// be spent on another. It is built only when a challenge is issued or
// verified: a 429 needs none.
func challengeClientKey(ip netip.Addr, username string) []byte {
	return []byte("ip:" + ip.String() + "|user:" + username)
}

// verifyChallenge checks a solution inside the pool: the one argon2id
// evaluation it costs is bounded like every other hash. The guard calls
// it only when a challenge is due and the hard budgets allow the attempt.
func (g *Gate) verifyChallenge(ctx context.Context, now time.Time, clientKey []byte, encoded, solution string) (int, error) {
	var c challenge.Challenge
	var verr error
	if err := g.pool.Do(ctx, func() { c, verr = g.chal.Verify(ctx, now, clientKey, encoded, solution) }); err != nil {
		return 0, err
	}
	if verr != nil {
		g.metrics.challenge("rejected")
		return 0, verr
	}
	g.metrics.challenge("solved")
	return c.Difficulty, nil
}
