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

// client posts login forms to one server, presenting each simulated
// client's address in X-Forwarded-For (the server trusts loopback as the
// proxy). It is safe for concurrent use.
type client struct {
	http     *http.Client
	tokenURL string
}

func newClient(base string) *client {
	tr := &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second}
	return &client{http: &http.Client{Transport: tr, Timeout: 60 * time.Second}, tokenURL: base + "/token"}
}

// login sends one password-grant request from ip.
func (c *client) login(ctx context.Context, ip, user, pw, device, chal, solution string) answer {
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
		a.kind, a.deviceToken = KindSuccess, cmp.Or(b.DeviceToken, resp.Header.Get("Credshield-Device"))
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
