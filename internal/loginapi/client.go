package loginapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// This file is the client's side of a profile: how to build the login a
// service's own clients send, and how to read the gateway's refusals in
// the service's shape. The simulator (its attacker and its legitimate
// users) and the scanner build every login here, so they speak exactly the
// API the gateway guards.

// Doer sends one HTTP request; *http.Client is one. A client that counts
// or paces its requests passes its own, so the requests a login needs
// before its POST (a Kratos flow) count like any other.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Login is what NewAttempt needs to build one login.
type Login struct {
	// Base is the service's origin and mount ("http://127.0.0.1:4433");
	// the profile's routes, with their path prefix, are appended to it.
	Base string
	// Identifier and Secret are the account name and password.
	Identifier, Secret string
	// Header is added to every request of the login, the flow's too (the
	// simulated client's address, a device credential).
	Header http.Header
	// Extra are more string fields of the body: the gateway's own
	// challenge fields.
	Extra map[string]string
	// ClientID (keycloak) is the OAuth2 client of the direct grant.
	ClientID string
}

// ErrCannotBuild means the profile does not know how to build a login.
var ErrCannotBuild = errors.New("this login profile cannot build logins")

// builder is implemented by the profiles whose logins a client can build.
type builder interface {
	build(ctx context.Context, c Doer, p *Profile, l Login) (*http.Request, []byte, error)
}

// NewAttempt builds the login request for l the way the service's own
// clients send it, and returns it with its body (for a client that records
// what it sent). Services whose login needs a step before it (Kratos
// creates a flow with GET /self-service/login/api, then submits it)
// take that step with c first; an error of that step names it.
func (p *Profile) NewAttempt(ctx context.Context, c Doer, l Login) (*http.Request, []byte, error) {
	b, ok := p.api.(builder)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s", ErrCannotBuild, p.Name)
	}
	if l.Base == "" {
		return nil, nil, errors.New("login: no base URL")
	}
	l.Base = strings.TrimSuffix(l.Base, "/")
	return b.build(ctx, c, p, l)
}

// newRequest is a POST of body to base+path with the login's headers.
func newRequest(ctx context.Context, l Login, path, contentType string, body []byte) (*http.Request, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.Base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("login request: %w", err)
	}
	for k, vs := range l.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	return req, body, nil
}

// jsonLogin is a login body of fixed members and the extra fields.
func jsonLogin(fixed map[string]any, extra map[string]string) []byte {
	m := make(map[string]any, len(fixed)+len(extra))
	for k, v := range extra {
		m[k] = v
	}
	for k, v := range fixed {
		m[k] = v
	}
	// Strings, booleans and maps of them always marshal.
	b, _ := json.Marshal(m)
	return b
}

func (f fastapi) build(ctx context.Context, _ Doer, p *Profile, l Login) (*http.Request, []byte, error) {
	form := url.Values{}
	for k, v := range l.Extra {
		form.Set(k, v)
	}
	form.Set("grant_type", "password")
	form.Set(f.usernameField, l.Identifier)
	form.Set("password", l.Secret)
	return newRequest(ctx, l, p.Logins[0].Path, "application/x-www-form-urlencoded", []byte(form.Encode()))
}

func (authelia) build(ctx context.Context, _ Doer, p *Profile, l Login) (*http.Request, []byte, error) {
	body := jsonLogin(map[string]any{"username": l.Identifier, "password": l.Secret, "keepMeLoggedIn": false}, l.Extra)
	return newRequest(ctx, l, p.Logins[0].Path, "application/json", body)
}

// build creates an API flow (GET /self-service/login/api) and submits it
// with the password method, as ory/client-go's CreateNativeLoginFlow and
// UpdateLoginFlow do.
func (kratos) build(ctx context.Context, c Doer, p *Profile, l Login) (*http.Request, []byte, error) {
	flowPath := p.PassThrough[0].Path // /self-service/login/api
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.Base+flowPath, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("create a login flow: %w", err)
	}
	for k, vs := range l.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("create a login flow: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("create a login flow: %w", err)
	}
	id := jsonString(raw, "id")
	if resp.StatusCode != http.StatusOK || id == "" {
		return nil, nil, fmt.Errorf("create a login flow: GET %s answered %d without a flow id", flowPath, resp.StatusCode)
	}
	body := jsonLogin(map[string]any{"method": "password", "identifier": l.Identifier, "password": l.Secret}, l.Extra)
	return newRequest(ctx, l, p.Logins[0].Path+"?flow="+url.QueryEscape(id), "application/json", body)
}

// build sends Keycloak's direct grant to the first realm's token
// endpoint, a form as Keycloak's own adapters send it.
func (keycloak) build(ctx context.Context, _ Doer, p *Profile, l Login) (*http.Request, []byte, error) {
	if l.ClientID == "" {
		return nil, nil, errors.New("keycloak login: no client id")
	}
	form := url.Values{}
	for k, v := range l.Extra {
		form.Set(k, v)
	}
	form.Set("grant_type", "password")
	form.Set("client_id", l.ClientID)
	form.Set("username", l.Identifier)
	form.Set("password", l.Secret)
	return newRequest(ctx, l, p.Logins[0].Path, "application/x-www-form-urlencoded", []byte(form.Encode()))
}

// build sends GoTrue's password grant as supabase-js's
// signInWithPassword does: POST /token?grant_type=password with
// {"email","password"}.
func (gotrue) build(ctx context.Context, _ Doer, p *Profile, l Login) (*http.Request, []byte, error) {
	body := jsonLogin(map[string]any{"email": l.Identifier, "password": l.Secret}, l.Extra)
	return newRequest(ctx, l, p.Logins[0].Path+"?grant_type=password", "application/json", body)
}

// ReadRefusal reads a gateway's refusal from an answer to a login: kind
// Throttled for a 429, ChallengeRequired with the challenge's token when
// the answer carries a proof-of-work challenge — at the top of the body
// (the RFC 6749 answer and Authelia's shape) or in error.details (Kratos's
// herodot shape). kind is 0 for any other answer: the service's own
// judgement, for Classify.
func (p *Profile) ReadRefusal(a Answer) (kind RefusalKind, challengeToken string) {
	if a.Status == http.StatusTooManyRequests {
		return Throttled, ""
	}
	if a.Status < 400 || a.Status >= 500 || a.Truncated {
		return 0, ""
	}
	var body struct {
		Challenge *struct {
			Token string `json:"token"`
		} `json:"challenge"`
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(a.Body, &body) != nil {
		return 0, ""
	}
	if body.Challenge != nil && body.Challenge.Token != "" {
		return ChallengeRequired, body.Challenge.Token
	}
	var herodot struct {
		Details struct {
			Challenge *struct {
				Token string `json:"token"`
			} `json:"challenge"`
		} `json:"details"`
	}
	if json.Unmarshal(body.Error, &herodot) == nil && herodot.Details.Challenge != nil && herodot.Details.Challenge.Token != "" {
		return ChallengeRequired, herodot.Details.Challenge.Token
	}
	return 0, ""
}

// versioner is implemented by the profiles of services that tell their
// version on a public route.
type versioner interface {
	version(ctx context.Context, c Doer, base string) (string, error)
}

// ErrNoVersion means the service publishes no version a client can read.
var ErrNoVersion = errors.New("the service publishes no version")

// ServiceVersion asks the service at base for its version where it tells
// it (Kratos: GET /version; GoTrue: GET /health). It returns ErrNoVersion for a service that
// never does (Authelia), and another error when the route did not answer
// one (Kratos's /version served only on its admin port).
func (p *Profile) ServiceVersion(ctx context.Context, c Doer, base string) (string, error) {
	v, ok := p.api.(versioner)
	if !ok {
		return "", ErrNoVersion
	}
	return v.version(ctx, c, strings.TrimSuffix(base, "/"))
}

func (kratos) version(ctx context.Context, c Doer, base string) (string, error) {
	return getVersion(ctx, c, base+"/version")
}

// getVersion reads the "version" member of a GET of u.
func getVersion(ctx context.Context, c Doer, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("version: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("version: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return "", fmt.Errorf("version: %w", err)
	}
	v := jsonString(raw, "version")
	if resp.StatusCode != http.StatusOK || v == "" {
		return "", fmt.Errorf("version: GET %s answered %d without a version", req.URL.Path, resp.StatusCode)
	}
	return v, nil
}

// version reads GoTrue's GET /health (api/api.go, HealthCheck).
func (gotrue) version(ctx context.Context, c Doer, base string) (string, error) {
	return getVersion(ctx, c, base+"/health")
}

var (
	_ versioner = gotrue{}
	_ versioner = kratos{}
	_ builder   = fastapi{}
	_ builder   = authelia{}
	_ builder   = kratos{}
	_ builder   = keycloak{}
	_ builder   = gotrue{}
)
