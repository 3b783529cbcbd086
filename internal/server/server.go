// Package server is the token service's HTTP surface: routes, handlers,
// the error adapter and the middleware around them. A request to POST
// /token reads top to bottom in token.go plus package gate: parse
// strictly, ask the gate, look the user up, verify the password in the
// bounded hasher pool, pad failures to one floor, settle the reservation,
// issue. The gateway in front of other apps' logins is package protect,
// which shares the gate and package httpapi's conventions.
//
// The package depends on small interfaces (Users, Keys, Hasher) declared
// here, where they are consumed; cmd/credshield wires the concrete SQLite
// store, key set and hasher pool into them.
package server

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/internal/clientip"
	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/httpapi"
	"github.com/credshield/credshield/internal/password"
	"github.com/credshield/credshield/internal/scope"
	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/token"
	"github.com/credshield/credshield/verify"
)

// Users is the account storage the server reads. Implementations must be
// safe for concurrent use and wrap store.ErrNotFound / store.ErrStale.
type Users interface {
	UserByName(ctx context.Context, username string) (store.User, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	ReplaceHash(ctx context.Context, id, oldHash, newHash, class string, now time.Time) error
	HashClasses(ctx context.Context) ([]string, error)
	Ping(ctx context.Context) error
}

// Screening is the password-screening state of accounts (store, migration
// 00007). Implementations must be safe for concurrent use.
type Screening interface {
	PasswordScreening(ctx context.Context, id string) (store.Screening, error)
	SetPasswordScreening(ctx context.Context, id string, sc store.Screening, now time.Time) error
}

// Keys signs access tokens and publishes the public half.
type Keys interface {
	Sign(c token.Claims) (string, error)
	JWKS() ([]byte, error)
	PublicKey(kid string) (crypto.PublicKey, string, bool)
}

// Hasher runs password work with bounded concurrency; Do fails fast with
// password.ErrOverloaded rather than queueing without limit.
type Hasher interface {
	Do(ctx context.Context, fn func()) error
	// DoFirst is the priority lane for clients the guard trusts: a queue
	// of its own and served first, so an attack's flood of untrusted
	// attempts cannot delay or refuse the owners of known devices. key
	// is the account: priority is shared fairly between accounts, so one
	// account holder looping logins cannot hold the lane.
	DoFirst(ctx context.Context, key string, fn func()) error
}

// Deps are the parts a Server is built from. All are required except
// Metrics.
type Deps struct {
	Users      Users
	Keys       Keys
	Hasher     Hasher
	Guard      gate.Guard
	Devices    gate.Devices
	Challenges gate.Challenges
	ClientIP   *clientip.Resolver
	Log        *slog.Logger
	Metrics    *gate.Metrics
	// DPoP checks DPoP proofs (RFC 9449) at /token and for bound tokens;
	// default a Checker with an in-memory replay cache and no nonces.
	// Replicas must share its replay cache.
	DPoP *dpop.Checker
	// Refresh keeps refresh-token families; nil turns refresh tokens off
	// (no refresh_token in responses, grant_type=refresh_token refused).
	Refresh RefreshStore
	// Revocations records revoked access-token jtis; nil means access
	// tokens cannot be revoked before they expire.
	Revocations Revocations
	// Screening and Screen screen, at their next successful login, the
	// passwords of accounts imported with hashes nobody could screen; nil
	// (either) screens nothing at login. Screen also screens the new
	// password of POST /password; nil screens nothing there.
	Screening Screening
	Screen    password.Screener
	// Passwords stores self-service password changes (POST /password);
	// nil leaves the endpoint out.
	Passwords Passwords
	// GuardDegraded reports that the shared guard store is unreachable
	// and this replica decides on divided local budgets; /readyz says so.
	// nil on one node.
	GuardDegraded func() bool
}

// Config is the server's part of the service configuration, already
// validated by package config.
type Config struct {
	Issuer      string
	Audience    string
	AccessTTL   time.Duration
	Leeway      time.Duration
	CORSOrigins []string
	// Argon are the parameters for new hashes; a stored hash under others
	// is rehashed on the next successful login.
	Argon password.Params
	// FailureFloor is the configured least duration of a failed login.
	FailureFloor time.Duration
	// Realm names the protection space in WWW-Authenticate; default
	// "credshield".
	Realm string
	// AllowedScopes are the scopes any account may request; an account may
	// also request those granted to it alone (store.User.Scopes). A request
	// for any other scope is refused with invalid_scope, and a refresh
	// narrows its family's scope to what is still granted. Empty: no scope
	// but an account's own grants.
	AllowedScopes []string
	// DefaultClientID fills the client_id claim (RFC 9068 requires one)
	// when a public client sends none; default "public".
	DefaultClientID string
	// DeviceCookieSameSite is the SameSite of the device cookie: Strict
	// (the default) for a same-site login page, None for the cross-origin
	// front ends listed in CORSOrigins.
	DeviceCookieSameSite http.SameSite
	// RefreshTTL is the absolute lifetime of a refresh-token family and
	// RefreshIdleTTL how long one of its tokens lasts unused; defaults
	// DefaultRefreshTTL and DefaultRefreshIdleTTL.
	RefreshTTL     time.Duration
	RefreshIdleTTL time.Duration
	// RefreshFamiliesPerUser caps a user's live refresh-token families:
	// a login beyond it revokes the oldest. Every login starts a family,
	// so without a cap one account looping logins grows the table without
	// bound. Default DefaultRefreshFamiliesPerUser.
	RefreshFamiliesPerUser int
	// ResourceURL is the external base URL of the API behind GET /verify:
	// a DPoP proof's htu is compared with it plus the original request's
	// path; default Issuer. GET /verify believes X-Forwarded-Method and
	// X-Original-URI only from the trusted proxies of Deps.ClientIP.
	ResourceURL string
	// PasswordMinLength is the least number of characters of a new
	// password set through POST /password (password.Policy.MinLen); 0
	// means password.DefaultMinLen.
	PasswordMinLength int
	// RequireDPoP makes sender-constrained tokens mandatory: POST /token
	// needs a DPoP proof and protected resources refuse Bearer tokens.
	RequireDPoP bool
	// Now is the clock for token claims; default time.Now. Tests step it.
	Now func() time.Time
}

// Server serves the token service's HTTP API. Build it with New; it is safe
// for concurrent use.
type Server struct {
	gate     *gate.Gate // the guard, device credentials, challenges and refusals
	log      *slog.Logger
	metrics  *gate.Metrics
	hasher   Hasher
	cfg      Config
	users    Users
	keys     Keys
	clientIP *clientip.Resolver
	degraded func() bool     // nil on one node
	verifier *token.Verifier // for POST /revoke
	dpop     *dpop.Checker
	// meVerifier and forwardVerifier check the requests of /users/me and
	// /verify: package verify over the service's own keys.
	meVerifier      *verify.Verifier
	forwardVerifier *verify.Verifier
	refresh         RefreshStore
	revocations     Revocations
	// allowedScopes is Config.AllowedScopes as one normalised list.
	allowedScopes string
	screening     Screening         // nil: no screening at login
	screen        password.Screener // nil: no screening at login
	policy        password.Policy   // the rules for a new password (POST /password)
	passwords     Passwords         // nil: no POST /password
	dummy         string            // argon2id hash verified when the user does not exist
	floor         *gate.Floor
	calibrating   sync.Mutex // serialises RefreshFloor
	openapi       []byte
	metadata      []byte
	handler       http.Handler
}

// New builds a Server. It computes the dummy hash and calibrates the
// failure floor against the hash schemes present in users, so it takes a
// few hash durations to return.
func New(ctx context.Context, cfg Config, d Deps) (*Server, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("server: issuer and audience are required")
	}
	if d.Users == nil || d.Keys == nil || d.Hasher == nil || d.Guard == nil || d.Devices == nil || d.Challenges == nil || d.ClientIP == nil || d.Log == nil {
		return nil, errors.New("server: users, keys, hasher, guard, devices, challenges, client address resolver and logger are required")
	}
	if cfg.Realm == "" {
		cfg.Realm = "credshield"
	}
	if cfg.DefaultClientID == "" {
		cfg.DefaultClientID = "public"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	allowed, err := scope.Normalise(strings.Join(cfg.AllowedScopes, " "))
	if err != nil {
		return nil, fmt.Errorf("server: allowed scopes: %w", err)
	}
	cfg.ResourceURL = strings.TrimSuffix(cmp.Or(cfg.ResourceURL, cfg.Issuer), "/")
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
	}
	if cfg.RefreshIdleTTL <= 0 || cfg.RefreshIdleTTL > cfg.RefreshTTL {
		cfg.RefreshIdleTTL = min(DefaultRefreshIdleTTL, cfg.RefreshTTL)
	}
	if cfg.RefreshFamiliesPerUser <= 0 {
		cfg.RefreshFamiliesPerUser = DefaultRefreshFamiliesPerUser
	}
	policy := password.Policy{MinLen: cfg.PasswordMinLength, Screen: d.Screen}
	if err := policy.Validate(); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := cfg.Argon.Validate(); err != nil {
		return nil, fmt.Errorf("server: argon2 parameters: %w", err)
	}
	if d.DPoP == nil {
		var err error
		if d.DPoP, err = dpop.NewChecker(dpop.Config{}); err != nil {
			return nil, fmt.Errorf("server: dpop: %w", err)
		}
	}
	dummy, err := password.Dummy(rand.Reader, cfg.Argon)
	if err != nil {
		return nil, fmt.Errorf("server: dummy hash: %w", err)
	}
	s := &Server{
		log:           d.Log,
		metrics:       d.Metrics,
		hasher:        d.Hasher,
		cfg:           cfg,
		users:         d.Users,
		keys:          d.Keys,
		clientIP:      d.ClientIP,
		degraded:      d.GuardDegraded,
		dpop:          d.DPoP,
		refresh:       d.Refresh,
		revocations:   d.Revocations,
		allowedScopes: allowed,
		screening:     d.Screening,
		screen:        d.Screen,
		policy:        policy,
		passwords:     d.Passwords,
		dummy:         dummy,
		verifier: &token.Verifier{
			Keys:     d.Keys,
			Issuer:   cfg.Issuer,
			Audience: cfg.Audience,
			Type:     "at+jwt",
			Leeway:   cfg.Leeway,
		},
		floor: gate.NewFloor(cfg.FailureFloor),
	}
	if s.gate, err = gate.New(gate.Deps{Guard: d.Guard, Devices: d.Devices, Challenges: d.Challenges, Pool: d.Hasher,
		Log: d.Log, Metrics: d.Metrics, Now: cfg.Now, SameSite: cfg.DeviceCookieSameSite}); err != nil {
		return nil, err
	}
	// /users/me and /password: a DPoP proof's htu is the issuer plus the
	// request's own path.
	if s.meVerifier, err = s.newResourceVerifier(ctx, cfg.Issuer, nil); err != nil {
		return nil, fmt.Errorf("server: /users/me: %w", err)
	}
	if s.forwardVerifier, err = s.newResourceVerifier(ctx, cfg.ResourceURL, s.proofTarget); err != nil {
		return nil, fmt.Errorf("server: /verify: %w", err)
	}
	if err := s.RefreshFloor(ctx); err != nil {
		return nil, err
	}
	if s.openapi, err = openAPIDocument(cfg.Issuer); err != nil {
		return nil, err
	}
	if s.metadata, err = metadataDocument(cfg.Issuer, d.Refresh != nil, d.DPoP.Algs()); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// routes is the whole public API: read it to find where a request goes.
func (s *Server) routes() http.Handler {
	r := newRouter(s)
	r.handle("POST", "/token", s.token)
	r.handle("POST", "/revoke", s.revoke)
	r.handle("GET", "/users/me", s.me)
	if s.passwords != nil {
		r.handle("POST", "/password", s.changePassword)
	}
	// Forward-auth subrequests may carry the original method.
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
		r.handle(m, "/verify", s.verifyRequest)
	}
	r.handle("GET", "/.well-known/jwks.json", s.jwks)
	r.handle("GET", "/.well-known/oauth-authorization-server", s.serveStatic(s.metadata, "public, max-age=300"))
	r.handle("GET", "/openapi.json", s.serveStatic(s.openapi, "public, max-age=300"))
	r.handle("GET", "/healthz", s.healthz)
	r.handle("GET", "/readyz", s.readyz)
	return httpapi.RecoverPanics(s.log, httpapi.SecurityHeaders(newCORS(s.cfg.CORSOrigins).wrap(r.done())))
}

// router registers handlers on a ServeMux and answers every other method
// on a known path with a JSON 405 and Allow, and every unknown path with a
// JSON 404, so that no response of the service is plain text.
type router struct {
	s       *Server
	mux     *http.ServeMux
	methods map[string][]string // path -> methods, in registration order
}

func newRouter(s *Server) *router {
	return &router{s: s, mux: http.NewServeMux(), methods: make(map[string][]string)}
}

func (rt *router) handle(method, path string, h handlerFunc) {
	rt.mux.Handle(method+" "+path, rt.s.handle(h))
	rt.methods[path] = append(rt.methods[path], method)
}

func (rt *router) done() http.Handler {
	for path, methods := range rt.methods {
		allow := strings.Join(methods, ", ")
		rt.mux.Handle(path, rt.s.handle(func(w http.ResponseWriter, _ *http.Request) error {
			w.Header().Set("Allow", allow)
			return &oauthError{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "method not allowed; use " + allow}
		}))
	}
	rt.mux.Handle("/", rt.s.handle(func(http.ResponseWriter, *http.Request) error {
		return &oauthError{Status: http.StatusNotFound, Code: "not_found", Description: "no such endpoint"}
	}))
	return rt.mux
}

// HTTPServer returns an http.Server for s with timeouts on every phase, so
// slow clients cannot hold connections or goroutines open indefinitely.
func (s *Server) HTTPServer(addr string) *http.Server {
	hs := httpapi.NewServer(addr, s, s.log)
	hs.ReadTimeout = 10 * time.Second
	hs.WriteTimeout = 30 * time.Second
	hs.MaxHeaderBytes = 16 << 10
	return hs
}
