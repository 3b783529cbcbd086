// Package scan audits an HTTP API the way an attacker would, for the flaws
// that make credential stuffing pay: a login that is not rate limited (or
// only per username), a rate limit a forged header resets, answers and
// timings that reveal which usernames exist, and JWT validation that
// accepts forged tokens (alg none, unverified signatures, guessable HMAC
// secrets, key confusion, embedded keys, kid injection, psychic ECDSA
// signatures) or bad claims.
//
// The scanner is an outside auditor: it speaks HTTP to the target and
// imports none of credshield's own defences. It decides nothing on one
// answer. It logs in first and takes baselines (no token, a garbage token,
// the valid token); a forged token counts as accepted only when its answer
// falls in the valid token's class and differs from the garbage token's,
// twice; the valid token must still work after the token probes, or every
// negative token verdict is reported inconclusive. Forged tokens carry the
// scanner's own claims, never another user's subject, and rate-limit probes
// use random usernames that do not exist, so no real account is locked.
// Every request counts against Options.MaxRequests and waits for
// Options.RPS; a check the budget cannot finish is reported inconclusive,
// never guessed.
package scan

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/credshield/credshield/internal/loginapi"
)

// Defaults for Options.
const (
	DefaultMaxRequests = 400
	DefaultRPS         = 20
)

// Options configure a scan. Target is required; the zero value of every
// other field means its default.
type Options struct {
	// Target is the API's base URL (or its OpenAPI document's URL).
	Target string
	// Username and Password log the scanner in at the token endpoint.
	// Username alone (with Token) is enough for the enumeration checks.
	Username, Password string
	// Token is an access token to use instead of logging in.
	Token string
	// Profile names the login API to speak (kratos, authelia, ...; see
	// loginapi.Names), skipping the discovery of one; "" discovers it.
	Profile string
	// Realm is the Keycloak realm to scan (its routes name it), and
	// ClientID the OAuth2 client its direct grant names.
	Realm, ClientID string
	// TokenURL and ProtectedURL override discovery; relative references
	// resolve against Target. Both must be on Target's origin.
	TokenURL, ProtectedURL string
	// MaxRequests caps the requests sent; default DefaultMaxRequests.
	MaxRequests int
	// RPS caps the request rate; default DefaultRPS.
	RPS float64
	// Wordlist adds newline-separated candidate secrets to the built-in
	// list for the offline HMAC secret search.
	Wordlist io.Reader
	// Workers is the number of goroutines cracking secrets; default all
	// CPUs.
	Workers int
	// Client sends the requests; default one with a 10 s timeout that
	// does not follow redirects.
	Client *http.Client
	// Rand is the randomness for usernames, nonces and keys; default
	// crypto/rand.
	Rand io.Reader
	// Now is the clock for token claims; default time.Now.
	Now func() time.Time
	// Progress, if set, is called as the scan moves through its probes
	// and spends its budget.
	Progress func(Progress)
}

// scanner is the state of one Run.
type scanner struct {
	opts   Options
	target *url.URL
	c      *client
	rand   io.Reader
	now    func() time.Time
	rep    *Report

	token     *jwt   // the valid access token, if any
	tokenType string // token_type from the login answer
	// profile is the login API the target speaks; nil is an OAuth2
	// password grant at the token URL.
	profile *loginapi.Profile
	// gotruePrefix is where GoTrue is mounted ("/auth/v1" behind
	// Supabase's gateway).
	gotruePrefix string
}

// Run scans opts.Target and returns the report. An error means the scan
// could not run at all (bad options, target unreachable, login refused);
// problems of single checks are reported as inconclusive.
func Run(ctx context.Context, opts Options) (*Report, error) {
	start := time.Now()
	target, err := url.Parse(opts.Target)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, fmt.Errorf("scan: target %q: want an absolute http or https URL", opts.Target)
	}
	if (opts.Username == "") != (opts.Password == "") && opts.Token == "" {
		return nil, errors.New("scan: --username and --password go together")
	}
	if opts.MaxRequests == 0 {
		opts.MaxRequests = DefaultMaxRequests
	}
	if opts.RPS == 0 {
		opts.RPS = DefaultRPS
	}
	if opts.MaxRequests < 1 || opts.RPS < 0 {
		return nil, errors.New("scan: max requests and rps must be positive")
	}
	if opts.Workers < 1 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &scanner{
		opts:   opts,
		target: target,
		rand:   opts.Rand,
		now:    opts.Now,
		rep:    &Report{Target: target.String(), Findings: []Finding{}, Inconclusive: []Inconclusive{}, Skipped: []Skipped{}, MaxRequests: opts.MaxRequests},
		c: &client{
			hc:       opts.Client,
			lim:      rate.NewLimiter(rate.Limit(opts.RPS), 1),
			budget:   opts.MaxRequests,
			progress: opts.Progress,
		},
	}
	if opts.Password != "" {
		s.c.secrets = append(s.c.secrets, opts.Password)
	}
	err = s.run(ctx)
	s.rep.RequestsSent = s.c.sent
	s.rep.Duration = time.Since(start)
	s.rep.sortFindings()
	if err != nil {
		return s.rep, err
	}
	return s.rep, nil
}

func (s *scanner) run(ctx context.Context) error {
	if err := s.discover(ctx); err != nil {
		return fmt.Errorf("scan: discovery: %w", err)
	}
	if err := s.login(ctx); err != nil {
		return err
	}
	if s.token != nil {
		s.inspectToken()
		if err := s.tokenChecks(ctx); err != nil {
			return err
		}
	} else if s.profile != nil && s.profile.SessionTokens {
		s.sessionTokens()
	} else {
		for _, id := range tokenCheckIDs {
			s.skip(id, "needs --username and --password, or --token")
		}
	}
	if err := s.corsCheck(ctx); err != nil {
		return err
	}
	if err := s.enumChecks(ctx); err != nil {
		return err
	}
	return s.rateLimitChecks(ctx)
}

// login obtains the scanner's own access token.
func (s *scanner) login(ctx context.Context) error {
	raw := s.opts.Token
	if raw == "" && s.opts.Password != "" && s.profile != nil {
		s.c.setProbe("login")
		res, err := s.attempt(ctx, s.opts.Username, s.opts.Password, nil)
		if err != nil {
			return fmt.Errorf("scan: login: %w", err)
		}
		if !s.loginSucceeded(res) {
			return fmt.Errorf("scan: %s login at %s failed: %d %s", s.profile.Name, s.rep.Discovery.TokenURL, res.status, http.StatusText(res.status))
		}
		var body struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
		}
		_ = json.Unmarshal(res.body, &body)
		raw, s.tokenType = body.AccessToken, body.TokenType
	} else if raw == "" && s.opts.Password != "" {
		s.c.setProbe("login")
		res, err := s.c.postForm(ctx, s.rep.Discovery.TokenURL, url.Values{
			"grant_type": {"password"}, "username": {s.opts.Username}, "password": {s.opts.Password},
		}, nil)
		if err != nil {
			return fmt.Errorf("scan: login: %w", err)
		}
		var body struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
		}
		if res.status != 200 || json.Unmarshal(res.body, &body) != nil || body.AccessToken == "" {
			return fmt.Errorf("scan: login at %s failed: %d %s", s.rep.Discovery.TokenURL, res.status, http.StatusText(res.status))
		}
		raw, s.tokenType = body.AccessToken, body.TokenType
	}
	if raw == "" {
		return nil
	}
	t, err := parseJWT(raw)
	if err != nil {
		for _, id := range tokenCheckIDs {
			s.skip(id, "the access token is not a JWT")
		}
		return nil
	}
	s.token = t
	return nil
}

// sessionTokens records that the token checks do not apply: the service
// answers logins with an opaque session, not a JWT.
func (s *scanner) sessionTokens() {
	s.rep.Discovery.Notes = append(s.rep.Discovery.Notes, "session tokens: JWT checks not applicable ("+s.profile.Name+" answers a login with an opaque session, not a JWT)")
	for _, id := range tokenCheckIDs {
		s.skip(id, "session tokens: JWT checks not applicable")
	}
}

// add records a finding of rule id.
func (s *scanner) add(id, summary string, ex ...Exchange) {
	if s.rep.Has(id) {
		return
	}
	r := rule(id)
	s.rep.Findings = append(s.rep.Findings, Finding{
		ID: id, Severity: r.Severity, Title: r.Title,
		Evidence:    Evidence{Summary: summary, Exchanges: ex},
		Remediation: r.Remediation, References: r.References(),
	})
}

// inconclusive records that check id could not be decided.
func (s *scanner) inconclusive(id, reason string) {
	for _, in := range s.rep.Inconclusive {
		if in.ID == id {
			return
		}
	}
	s.rep.Inconclusive = append(s.rep.Inconclusive, Inconclusive{ID: id, Reason: reason})
}

// skip records that check id did not run, and what it needs.
func (s *scanner) skip(id, reason string) {
	if !slices.ContainsFunc(s.rep.Skipped, func(sk Skipped) bool { return sk.ID == id }) {
		s.rep.Skipped = append(s.rep.Skipped, Skipped{ID: id, Reason: reason})
	}
}

// undecided turns a check's error into an inconclusive verdict. Only the
// context's end aborts the scan.
func (s *scanner) undecided(ctx context.Context, id string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	reason := err.Error()
	if errors.Is(err, ErrBudget) {
		reason = fmt.Sprintf("request budget of %d spent", s.c.budget)
	}
	s.inconclusive(id, reason)
	return nil
}

// randomName returns a username that exists nowhere: a fixed prefix and
// 64 random bits.
func (s *scanner) randomName() string { return "csscan-" + s.nonce(8) }

// nonce returns n random bytes in hex.
func (s *scanner) nonce(n int) string {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		panic("scan: randomness failed: " + err.Error())
	}
	return fmt.Sprintf("%x", b)
}

// randomPassword returns a wrong password that cannot be anyone's.
func (s *scanner) randomPassword() string { return "Wrong-" + s.nonce(9) }

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
