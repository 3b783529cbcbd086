package simulate

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/loginapi"
)

// Kind is how the server answered one login request.
type Kind int

// Answers of POST /token.
const (
	KindSuccess    Kind = iota // 200: token issued
	KindFailure                // 400 invalid_grant: the password was checked
	KindChallenged             // 400 challenge_required: refused before any hash
	KindDenied                 // 429: refused before any hash
	KindOther                  // anything else (503, 5xx, transport errors)
	numKinds
)

var kindNames = [numKinds]string{"success", "failure", "challenged", "denied", "other"}

func (k Kind) String() string { return kindNames[k] }

// answer is one decoded /token response.
type answer struct {
	kind        Kind
	deviceToken string
	challenge   string // encoded challenge token when kind is KindChallenged
	latency     time.Duration
}

// client posts logins to one server, presenting each simulated client's
// address in X-Forwarded-For (the server, or the gateway in front of a
// --target, trusts loopback as the proxy; the services the profiles
// describe read it too). Without a profile it speaks credshield serve's
// password grant; with one, the service's own login API. It is safe for
// concurrent use.
type client struct {
	http     *http.Client
	base     string
	tokenURL string
	profile  *loginapi.Profile // nil: credshield serve's POST /token
	clientID string            // a Keycloak direct grant's client
}

func newClient(base string, profile *loginapi.Profile) *client {
	tr := &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second}
	c := &client{http: &http.Client{Transport: tr, Timeout: 60 * time.Second}, base: base, tokenURL: base + "/token", profile: profile}
	if profile != nil {
		c.tokenURL = base + profile.Logins[0].Path
	}
	return c
}

// login sends one login from ip: a password grant, or the profile's login.
func (c *client) login(ctx context.Context, ip, user, pw, device, chal, solution string) answer {
	if c.profile != nil {
		return c.profileLogin(ctx, ip, user, pw, device, chal, solution)
	}
	form := url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}}
	if device != "" {
		form.Set("device_token", device)
	}
	if chal != "" {
		form.Set(challenge.FormToken, chal)
		form.Set(challenge.FormSolution, solution)
	}
	return c.post(ctx, ip, form.Encode())
}

func (c *client) post(ctx context.Context, ip, body string) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(body))
	if err != nil {
		return answer{kind: KindOther}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", ip)
	t0 := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{kind: KindOther, latency: time.Since(t0)}
	}
	defer resp.Body.Close()
	var b struct {
		Error       string              `json:"error"`
		DeviceToken string              `json:"device_token"`
		Challenge   challenge.Challenge `json:"challenge"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	a := answer{latency: time.Since(t0), kind: KindOther}
	_ = json.Unmarshal(raw, &b)
	switch {
	case resp.StatusCode == http.StatusOK:
		// serve answers the device credential in the body; `credshield
		// protect` in front of another app, in its header
		// (server.DeviceHeader).
		a.kind, a.deviceToken = KindSuccess, cmp.Or(b.DeviceToken, resp.Header.Get(deviceHeader))
	case resp.StatusCode == http.StatusTooManyRequests:
		a.kind = KindDenied
	case resp.StatusCode == http.StatusBadRequest && b.Error == challenge.ErrorCode && b.Challenge.Token != "":
		a.kind, a.challenge = KindChallenged, b.Challenge.Token
	case resp.StatusCode == http.StatusBadRequest && b.Error == "invalid_grant",
		resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden:
		// 401 and 403: how other apps (a --target behind credshield
		// protect, FastAPI's tutorial) answer a wrong password.
		a.kind = KindFailure
	}
	return a
}

// profileLogin sends the profile's login (and the requests it needs
// first, a Kratos flow) from ip and judges the answer as the gateway
// would: a gateway's refusal (429, a challenge in the service's shape)
// first, then the profile's Classify. The device credential goes in the
// gateway's header, which every profile's clients may send.
func (c *client) profileLogin(ctx context.Context, ip, user, pw, device, chal, solution string) answer {
	h := http.Header{"X-Forwarded-For": {ip}}
	if device != "" {
		h.Set(deviceHeader, device)
	}
	l := loginapi.Login{Base: c.base, Identifier: user, Secret: pw, Header: h, ClientID: c.clientID}
	if chal != "" {
		l.Extra = map[string]string{challenge.FormToken: chal, challenge.FormSolution: solution}
	}
	t0 := time.Now()
	req, _, err := c.profile.NewAttempt(ctx, c.http, l)
	if err != nil {
		return answer{kind: KindOther, latency: time.Since(t0)}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{kind: KindOther, latency: time.Since(t0)}
	}
	defer resp.Body.Close()
	ans, err := loginapi.ReadAnswer(resp)
	_, _ = io.Copy(io.Discard, resp.Body)
	a := answer{latency: time.Since(t0), kind: KindOther}
	if err != nil {
		return a
	}
	switch kind, tok := c.profile.ReadRefusal(ans); kind {
	case loginapi.Throttled:
		a.kind = KindDenied
		return a
	case loginapi.ChallengeRequired:
		a.kind, a.challenge = KindChallenged, tok
		return a
	}
	switch c.profile.Classify(time.Now(), ans) {
	case loginapi.Success:
		a.kind, a.deviceToken = KindSuccess, resp.Header.Get(deviceHeader)
	case loginapi.Failure:
		a.kind = KindFailure
	}
	return a
}

// deviceHeader is where `credshield protect` hands API clients their
// device credential and reads it back (protect.DeviceHeader).
const deviceHeader = "Credshield-Device"
