package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/internal/gate/gatetest"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/password"
	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/postgres"
	"github.com/credshield/credshield/internal/store/sqlite"
	"github.com/credshield/credshield/token"
)

// testParams are cheap argon2id parameters so tests hash in well under a
// millisecond; the defaults are measured by the password benchmarks.
var testParams = password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// testEnv is a real server on loopback over a real SQLite file and real
// signing keys.
type testEnv struct {
	t      testing.TB
	srv    *Server
	ts     *httptest.Server
	st     *sqlite.Store
	keys   *token.KeySet
	pool   *password.Pool
	cfg    Config
	client *http.Client
	reg    *prometheus.Registry
	logs   *logBuffer
	// counting counts the guard's reservations and settlements; nil
	// unless the env was built withCountingGuard.
	counting *gatetest.CountingGuard
	// keysDir holds the signing keys, for rotation tests.
	keysDir string
}

// logBuffer collects the server's JSON log lines for tests that look for a
// security event.
type logBuffer = gatetest.LogBuffer

// dpopKey is a client's DPoP key.
type dpopKey struct {
	t   testing.TB
	key *ecdsa.PrivateKey
	jkt string
}

func newDPoPKey(t testing.TB) *dpopKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := dpop.Thumbprint(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{t: t, key: k, jkt: jkt}
}

// proof returns a DPoP proof for htm and htu at now, with ath for
// accessToken and nonce when they are not empty.
func (k *dpopKey) proof(htm, htu string, now time.Time, accessToken, nonce string) string {
	k.t.Helper()
	p, err := dpop.NewProof(k.key, dpop.ES256, htm, htu, now, accessToken, nonce, rand.Reader)
	if err != nil {
		k.t.Fatal(err)
	}
	return p
}

// refresh posts the refresh_token grant with extra form values and header
// pairs.
func (e *testEnv) refresh(tok string, form url.Values, header ...string) response {
	e.t.Helper()
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}
	for k, vals := range form {
		v[k] = vals
	}
	return e.postToken(v.Encode(), header...)
}

// loginWith posts the password grant with extra header pairs.
func (e *testEnv) loginWith(name, pw string, header ...string) response {
	e.t.Helper()
	return e.postToken(url.Values{"username": {name}, "password": {pw}}.Encode(), header...)
}

type envOption func(*Config, *envParts)

// envParts are the parts an option may change before the server is built.
type envParts struct {
	gatetest.Config // the gate's parts
	dpop            *dpop.Config
	screen          password.Screener // screening of pending accounts at login; nil: none
}

// withCountingGuard wraps the guard in a gatetest.CountingGuard
// (testEnv.counting).
func withCountingGuard() envOption {
	return func(_ *Config, p *envParts) { p.CountSettles = true }
}

// withScreen makes the server screen pending accounts at login with s.
func withScreen(s password.Screener) envOption {
	return func(_ *Config, p *envParts) { p.screen = s }
}

// withDPoP gives the server a DPoP checker built from cfg (for nonces).
func withDPoP(cfg dpop.Config) envOption {
	return func(_ *Config, p *envParts) { p.dpop = &cfg }
}

func withPool(workers, queue int) envOption {
	return func(_ *Config, p *envParts) { p.Workers, p.Queue = workers, queue }
}

// withScopes lets every account request scopes (--allowed-scopes).
func withScopes(scopes ...string) envOption {
	return withConfig(func(c *Config) { c.AllowedScopes = scopes })
}

func withConfig(f func(*Config)) envOption {
	return func(c *Config, _ *envParts) { f(c) }
}

func withPolicy(pol guard.Policy) envOption {
	return func(_ *Config, p *envParts) { p.Policy = pol }
}

// withTrustedProxies makes the server take the client address from
// X-Forwarded-For when the peer is in one of the prefixes.
func withTrustedProxies(prefixes ...string) envOption {
	return func(_ *Config, p *envParts) {
		for _, s := range prefixes {
			p.Trusted = append(p.Trusted, netip.MustParsePrefix(s))
		}
	}
}

func withHasher(wrap func(Hasher) Hasher) envOption {
	return func(_ *Config, p *envParts) {
		p.Hasher = func(h gatetest.Hasher) gatetest.Hasher { return wrap(h) }
	}
}

// unlimited is a guard policy that never binds, for tests about other
// things.
func unlimited() guard.Policy { return gatetest.Unlimited() }

// withReplayCapacity sizes the challenge replay cache.
func withReplayCapacity(n int) envOption {
	return func(_ *Config, p *envParts) { p.ReplayCapacity = n }
}

// withDetector turns the attack detector on with cfg.
func withDetector(cfg guard.DetectorConfig) envOption {
	return func(_ *Config, p *envParts) { p.Detector = &cfg }
}

func newTestEnv(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "credshield.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := token.LoadOrCreate(t.Context(), token.Dir(filepath.Join(dir, "keys")), token.EdDSA, rand.Reader, time.Now())
	if err != nil {
		t.Fatalf("keys: %v", err)
	}
	// The issuer must be known before the listener exists: start an
	// unstarted httptest server to learn its address.
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	cfg := Config{
		Issuer:    issuer,
		Audience:  issuer,
		AccessTTL: 15 * time.Minute,
		Leeway:    30 * time.Second,
		Argon:     testParams,
	}
	parts := envParts{Config: gatetest.Config{Workers: 2, Queue: 64, Policy: unlimited()}}
	for _, o := range opts {
		o(&cfg, &parts)
	}
	gp := gatetest.New(t, parts.Config)
	var checker *dpop.Checker
	if parts.dpop != nil {
		if checker, err = dpop.NewChecker(*parts.dpop); err != nil {
			t.Fatal(err)
		}
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	srv, err := New(ctx, cfg, Deps{Users: st, Keys: keys, Hasher: gp.Hasher, Guard: gp.GateGuard(), Devices: gp.Devices, Challenges: gp.Challenges, ClientIP: gp.Resolver, Log: log, Metrics: gp.Metrics, DPoP: checker, Refresh: st, Revocations: st, Screening: st, Screen: parts.screen, Passwords: st})
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ts.Config.Handler = srv
	ts.Start()
	t.Cleanup(ts.Close)
	return &testEnv{t: t, srv: srv, ts: ts, st: st, keys: keys, pool: gp.Pool, cfg: srv.cfg, client: ts.Client(), reg: gp.Reg, logs: logs, counting: gp.Counting, keysDir: filepath.Join(dir, "keys")}
}

// addUser stores a user whose password is hashed with the test parameters.
func (e *testEnv) addUser(name, pw string) store.User {
	e.t.Helper()
	h, err := password.Hash(rand.Reader, []byte(pw), testParams)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.addUserHash(name, h)
}

func (e *testEnv) addUserHash(name, hash string) store.User {
	e.t.Helper()
	class, err := password.Check(hash)
	if err != nil {
		e.t.Fatalf("check hash: %v", err)
	}
	u, err := e.st.CreateUser(context.Background(), store.NewUser{Username: name, PasswordHash: hash, HashClass: class}, time.Now())
	if err != nil {
		e.t.Fatalf("create user: %v", err)
	}
	return u
}

// response is a decoded HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return m
}

func (e *testEnv) do(req *http.Request) response {
	e.t.Helper()
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// postToken posts a raw body to /token with the form content type.
func (e *testEnv) postToken(body string, header ...string) response {
	e.t.Helper()
	return e.postForm("/token", body, header...)
}

// postForm posts a raw body to path with the form content type.
func (e *testEnv) postForm(path, body string, header ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.do(req)
}

func (e *testEnv) login(name, pw string) response {
	e.t.Helper()
	return e.postToken(url.Values{"username": {name}, "password": {pw}}.Encode())
}

// me calls GET /users/me with the given Authorization header value ("" for
// none).
func (e *testEnv) me(auth string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.ts.URL+"/users/me", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return e.do(req)
}

// accessToken logs in and returns the access token, failing the test
// otherwise.
func (e *testEnv) accessToken(name, pw string) string {
	e.t.Helper()
	res := e.login(name, pw)
	if res.status != http.StatusOK {
		e.t.Fatalf("login %s: status %d body %s", name, res.status, res.body)
	}
	tok, _ := res.json(e.t)["access_token"].(string)
	if tok == "" {
		e.t.Fatalf("no access_token in %s", res.body)
	}
	return tok
}

// Interface guards: the concrete parts cmd/credshield wires in satisfy the
// interfaces this package declares.
var (
	_ Users        = (*sqlite.Store)(nil)
	_ Keys         = (*token.KeySet)(nil)
	_ Hasher       = (*password.Pool)(nil)
	_ RefreshStore = (*sqlite.Store)(nil)
	_ Revocations  = (*sqlite.Store)(nil)
	_ Users        = (*postgres.Store)(nil)
	_ RefreshStore = (*postgres.Store)(nil)
	_ Revocations  = (*postgres.Store)(nil)
)
