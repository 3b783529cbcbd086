// Package protect is `credshield protect`: a reverse proxy that puts the
// login gate (package gate) in front of another app's own login endpoint.
// What a login looks like is the app's login profile's (package
// loginapi): logins are matched on their canonical path (proxy_path.go),
// read the way the app will read them (proxy_body.go), admitted by the
// gate and passed through; the app's answer, classed by its profile,
// settles the reservation, and a refusal is written in the app's own
// shape. Everything else passes through untouched but for the forwarding
// headers.
package protect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/credshield/credshield/internal/challenge/interstitial"
	"github.com/credshield/credshield/internal/clientip"
	"github.com/credshield/credshield/internal/device"
	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/httpapi"
	"github.com/credshield/credshield/internal/loginapi"
	"github.com/credshield/credshield/internal/username"
)

// DeviceHeader carries the device credential for API clients of a
// protected app: the proxy reads it on a login and sets it on a successful
// one (browsers get the __Host- cookie serve sets, gate.DeviceCookie). The
// app never sees it.
const DeviceHeader = "Credshield-Device"

// loginReadTimeout bounds how long a client may take to send a login body;
// the proxy's server has no read timeout of its own, since pass-through
// traffic (uploads, websockets) may take as long as it likes.
const loginReadTimeout = 10 * time.Second

// Config is the proxy's part of the protect configuration, already
// validated by package config.
type Config struct {
	// Upstream is the protected app; its path, if any, prefixes every
	// forwarded path.
	Upstream *url.URL
	// Profiles describe the login APIs the upstream serves; at least one.
	// A POST to one of their login paths, spelt exactly so, is a login
	// attempt of that profile; a POST to any other spelling of one (see
	// canonicalPath: /Token/, /token;x, /token.json...) is refused and
	// never forwarded, since the app's router might send it to its login.
	// No two profiles may share a login path, and all must read the
	// client address from the same header.
	Profiles []*loginapi.Profile
	// UniformFailureTiming pads every failed login to a floor learnt from
	// the app's recent login latencies (see latencyWindow), never less
	// than FailureFloor.
	UniformFailureTiming bool
	FailureFloor         time.Duration
	// DeviceCookieSameSite is the SameSite of the device cookie (default
	// Strict).
	DeviceCookieSameSite http.SameSite
	// LoginFormOrigins are the operator's own login pages served apart
	// from the login URL (canonical, interstitial.CanonicalOrigin): a form
	// posted from one gets the challenge page too.
	LoginFormOrigins []string
	// Transport reaches the upstream; default a transport with dial
	// timeouts that ignores HTTP_PROXY.
	Transport http.RoundTripper
	// Now is the guard's clock; default time.Now.
	Now func() time.Time
}

// Deps are the parts a Proxy is built from; all are required except
// Metrics.
type Deps struct {
	Guard      gate.Guard
	Devices    gate.Devices
	Challenges gate.Challenges
	// Hasher bounds challenge verification (one argon2id evaluation each).
	Hasher   gate.Pool
	ClientIP *clientip.Resolver
	Log      *slog.Logger
	Metrics  *gate.Metrics
	// Page, when set, is the challenge page browsers posting a login
	// form get in place of challenge_required (interstitial.go).
	Page *interstitial.Page
}

// Proxy is `credshield protect`: a reverse proxy that puts the guard in
// front of another app's own login endpoint. A login attempt is read by
// its profile, its account name normalised, and checked by the guard
// before the app sees anything; refused attempts are answered in the
// profile's shape (serve's challenge_required and 429 for an OAuth2
// endpoint), allowed ones are forwarded unchanged and the app's answer,
// classed by the profile, settles the guard's reservation. Everything else passes through
// untouched except for the forwarding headers, which the proxy owns. Build
// it with New; it is safe for concurrent use.
type Proxy struct {
	gate     *gate.Gate
	log      *slog.Logger
	cfg      Config
	clientIP *clientip.Resolver
	logins   map[string]*loginapi.Profile // canonicalPath of each login path
	exact    map[string]*loginapi.Profile // each login path as configured: the only spelling forwarded
	// provesNoName holds the exact login paths whose success proves no
	// secret of the name sent (loginapi.Route.ProvesNoName).
	provesNoName map[string]bool
	// outHeader is the one header the upstream reads the client address
	// from (the profiles'); clientHeaders are every header the upstream
	// or the inbound proxies name an address in, removed from every
	// request before outHeader is set.
	outHeader     string
	clientHeaders map[string]bool
	rp            *httputil.ReverseProxy
	floor         *gate.Floor
	recent        *latencyWindow
	handler       http.Handler
	page          *interstitial.Page // nil: no challenge page
}

// New builds a Proxy.
func New(cfg Config, d Deps) (*Proxy, error) {
	if cfg.Upstream == nil || (cfg.Upstream.Scheme != "http" && cfg.Upstream.Scheme != "https") || cfg.Upstream.Host == "" {
		return nil, errors.New("proxy: an http or https upstream is required")
	}
	if len(cfg.Profiles) == 0 {
		return nil, errors.New("proxy: at least one login profile is required")
	}
	if d.Guard == nil || d.Devices == nil || d.Challenges == nil || d.Hasher == nil || d.ClientIP == nil || d.Log == nil {
		return nil, errors.New("proxy: guard, devices, challenges, hasher, client address resolver and logger are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		cfg.Transport = upstreamTransport()
	}
	g, err := gate.New(gate.Deps{Guard: d.Guard, Devices: d.Devices, Challenges: d.Challenges, Pool: d.Hasher,
		Log: d.Log, Metrics: d.Metrics, Now: cfg.Now, SameSite: cfg.DeviceCookieSameSite})
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		gate:         g,
		log:          d.Log,
		cfg:          cfg,
		clientIP:     d.ClientIP,
		logins:       make(map[string]*loginapi.Profile),
		exact:        make(map[string]*loginapi.Profile),
		provesNoName: make(map[string]bool),
		floor:        gate.NewFloor(cfg.FailureFloor),
		recent:       &latencyWindow{},
		page:         d.Page,
	}
	if err := p.addProfiles(cfg.Profiles); err != nil {
		return nil, err
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: cfg.Transport,
		// No FlushInterval: ReverseProxy already flushes every write of a
		// text/event-stream or of a response of unknown length (chunked
		// downloads, long polls), so streams stream; a response of known
		// length is written through the server's buffer, not one write
		// and one flush per read from the upstream.
		BufferPool:     &copyBuffers{},
		ModifyResponse: p.settle,
		ErrorHandler:   p.upstreamFailed,
		ErrorLog:       slog.NewLogLogger(d.Log.Handler(), slog.LevelWarn),
	}
	p.handler = httpapi.RecoverPanics(d.Log, http.HandlerFunc(p.serve))
	return p, nil
}

// addProfiles maps each profile's login paths, and gathers the client
// address headers the upstream reads.
func (p *Proxy) addProfiles(profiles []*loginapi.Profile) error {
	p.outHeader = textproto.CanonicalMIMEHeaderKey(profiles[0].ClientIPHeader)
	p.clientHeaders = map[string]bool{p.outHeader: true, textproto.CanonicalMIMEHeaderKey(p.clientIP.Header()): true}
	for _, prof := range profiles {
		if h := textproto.CanonicalMIMEHeaderKey(prof.ClientIPHeader); h != p.outHeader {
			// The upstream would read the address from one header for
			// one profile and from another, unset, for the other.
			return fmt.Errorf("proxy: profiles %s and %s read the client address from different headers (%s, %s): run one proxy for each", profiles[0].Name, prof.Name, p.outHeader, h)
		}
		for _, h := range prof.ClientIPHeadersRead {
			p.clientHeaders[textproto.CanonicalMIMEHeaderKey(h)] = true
		}
		for _, route := range prof.Logins {
			lp := route.Path
			unescaped, err := url.PathUnescape(lp)
			canonical, ok := canonicalPath(lp)
			if err != nil || !strings.HasPrefix(lp, "/") || (&url.URL{Path: unescaped}).EscapedPath() != lp || !ok {
				// Only the exact spelling is forwarded: one that no client's
				// request path can equal would refuse every login.
				return fmt.Errorf("proxy: login path %q: want an absolute path, percent-encoded as clients send it", lp)
			}
			if other := p.logins[canonical]; other != nil && other != prof {
				// Which profile reads the body and judges the answer
				// must not depend on the spelling.
				return fmt.Errorf("proxy: profiles %s and %s both guard the login path %s", other.Name, prof.Name, lp)
			}
			p.logins[canonical] = prof
			p.exact[lp] = prof
			if route.ProvesNoName {
				p.provesNoName[lp] = true
			}
		}
	}
	return nil
}

// upstreamTransport is http.DefaultTransport's tuning without its
// HTTP_PROXY lookup: the upstream is reached directly.
func upstreamTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256, // one upstream: every idle connection may be to it
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// copyBuffers is the ReverseProxy's pool of copy buffers, so that a
// pass-through response does not allocate its own 32 KiB. The zero value
// is ready; safe for concurrent use.
type copyBuffers struct{ pool sync.Pool }

func (c *copyBuffers) Get() []byte {
	if b, ok := c.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (c *copyBuffers) Put(b []byte) {
	if cap(b) == 32<<10 {
		c.pool.Put(&b)
	}
}

// ServeHTTP makes Proxy an http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.handler.ServeHTTP(w, r)
}

// HTTPServer returns an http.Server for p. Only the header phase and idle
// connections are timed: pass-through traffic (uploads, downloads,
// websockets) may last, and login bodies get their own read deadline.
func (p *Proxy) HTTPServer(addr string) *http.Server {
	return httpapi.NewServer(addr, p, p.log)
}

// exchange is one request's state, carried in its context from serve to
// rewrite, settle and upstreamFailed.
type exchange struct {
	ip          netip.Addr
	trustedPeer bool
	// loginPath: the request's canonical path is a login path (any
	// method, any spelling).
	loginPath bool
	prof      *loginapi.Profile // an exact login path's profile
	w         http.ResponseWriter
	login     *loginAttempt // nil for pass-through requests
}

// loginAttempt is an allowed login on its way to the upstream.
type loginAttempt struct {
	exact string // the identifier as sent: the device credential's
	guess bool   // a guessable secret was sent: the answer settles it
	earns bool   // a success proves the secret for exact: it earns a device credential
	res   *gate.Reservation
	start time.Time // when it was forwarded
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	ip, err := p.clientIP.ClientIP(r.RemoteAddr, r.Header)
	if err != nil {
		p.writeError(w, r, fmt.Errorf("client address: %w", err))
		return
	}
	ex := &exchange{ip: ip, trustedPeer: p.peerTrusted(r.RemoteAddr), w: w}
	r = r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex))
	if spelling, prof := p.loginMatch(r.URL.EscapedPath()); spelling != notLogin {
		ex.loginPath, ex.prof = true, prof
		switch r.Method {
		case http.MethodPost:
			if spelling == foldedLogin {
				// Forwarded, it would be a login judged by the app's
				// router, not ours; its answer cannot be trusted to
				// settle anything. Never charged, never trusted.
				p.gate.Count(gate.Login, gate.Invalid)
				p.writeError(w, r, httpapi.InvalidRequest("send a login to the login path exactly: without path parameters, suffix, encoding, other case or trailing slash"))
				return
			}
			if err := p.login(w, r, ex); err != nil {
				p.writeError(w, r, err)
			}
			return
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			// Not logins (and /login.js may well be a script).
		default:
			// "post", PUT, PATCH...: some frameworks upper-case the
			// method or route any of them to the login; none may reach
			// it unguarded.
			p.writeError(w, r, &httpapi.Error{Status: http.StatusMethodNotAllowed, Code: "invalid_request",
				Description: "method " + httpapi.QuoteShort(r.Method) + " is not allowed on a guarded login path; use POST"})
			return
		}
	}
	if up := r.Header.Get("Upgrade"); up != "" && !strings.EqualFold(strings.TrimSpace(up), "websocket") {
		// An h2c (or other) upgrade would turn the connection into a
		// tunnel to the app that the proxy cannot read, logins included;
		// without the header the request goes on as plain HTTP/1.1.
		r.Header.Del("Upgrade")
		r.Header.Del("Http2-Settings")
	}
	// The upstream may answer while the request body is still coming
	// (an echo, a bidirectional stream): without full duplex, an HTTP/1
	// server discards the unread body once the response starts.
	_ = http.NewResponseController(w).EnableFullDuplex()
	p.rp.ServeHTTP(w, r)
}

// login runs one login attempt: parse, guard, forward. Nothing reaches the
// upstream unless the guard allowed it, and a body the proxy cannot read
// the way the app would is refused rather than forwarded.
//
// The reservation is settled exactly once: by settle when the app
// answers, by upstreamFailed when it cannot be reached, and otherwise
// (a panic, a handler that never reached the app) by the deferred
// Settle(Aborted) when the request ends.
func (p *Proxy) login(w http.ResponseWriter, r *http.Request, ex *exchange) error {
	ctx := r.Context()
	req, body, err := p.readLogin(w, r, ex.prof)
	if err != nil {
		p.gate.Count(gate.Login, gate.Invalid)
		return err
	}
	now := p.cfg.Now()
	var res *gate.Reservation
	if req.username == "" {
		// A second factor names no account (the session does): its
		// guesses spend the address's budgets alone.
		res, err = p.gate.AdmitAddress(ctx, now, gate.Login, ex.ip)
	} else {
		res, err = p.gate.Admit(ctx, now, gate.Attempt{Kind: gate.Login, Username: req.username, IP: ex.ip,
			Device: p.trustedDevice(now, req.creds.Device, req.exact), TrustName: req.exact,
			Challenge: req.creds.Challenge, Solution: req.creds.Solution})
	}
	if err != nil {
		if page, ok := p.challengePage(r, ex, body, err); ok {
			writePage(w, page)
		} else {
			p.refuse(w, r, ex.prof, err)
		}
		return nil
	}
	defer res.Settle(gate.Aborted)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	// The answer is classed by its body: ask for it uncompressed (the
	// client still gets every byte of it).
	r.Header.Set("Accept-Encoding", "identity")
	ex.login = &loginAttempt{exact: req.exact, guess: req.guess, earns: req.earns, res: res, start: time.Now()}
	p.rp.ServeHTTP(w, r)
	return nil
}

// refuse answers an attempt the gate did not admit: a refusal in the
// profile's own shape when it has one (so the service's clients and
// front end keep working), with the gate's RateLimit fields on a 429;
// otherwise, and for a guard that cannot decide, the gate's own answer.
func (p *Proxy) refuse(w http.ResponseWriter, r *http.Request, prof *loginapi.Profile, err error) {
	var ref *gate.Refusal
	if errors.As(err, &ref) {
		lr := loginapi.Refusal{Kind: loginapi.Throttled, RetryAfter: ref.RetryAfterSeconds()}
		if ref.Challenge != nil {
			lr = loginapi.Refusal{Kind: loginapi.ChallengeRequired, Challenge: ref.Challenge}
		}
		// A service that serves browsers and programs (Kratos on one
		// route, Keycloak on two) is refused in the shape its caller
		// reads: a browser's form post gets a page, a program JSON —
		// even a program posting the same form. Who is a browser is the
		// challenge page's rule (interstitial.Wanted), written once.
		lr.Path = r.URL.EscapedPath()
		if interstitial.Wanted(r.Header) {
			lr.ContentType = r.Header.Get("Content-Type")
		}
		if resp, ok := prof.Render(lr); ok {
			h := w.Header()
			for k, vs := range resp.Header {
				h[k] = vs
			}
			if resp.Status == http.StatusTooManyRequests {
				ref.SetRateLimitHeaders(h)
			}
			h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
			w.WriteHeader(resp.Status)
			_, _ = w.Write(resp.Body)
			return
		}
	}
	p.writeError(w, r, err)
}

// writeError answers a request the proxy refuses itself.
func (p *Proxy) writeError(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.WriteError(w, r, p.log, err)
}

// loginRequest is what the gate needs from a login body.
type loginRequest struct {
	username string // normalised: the guard's; "" when the body names no account
	// exact is the identifier exactly as sent: device credentials and
	// known networks are bound to it (the app may compare names exactly,
	// and "ALICE" must earn nothing for "alice").
	exact string
	// guess and earns are the profile's loginapi.Attempt.Guess and Earns.
	guess, earns bool
	creds        gate.Credentials
}

// readLogin reads a login body (capped at httpapi.MaxFormBytes), what
// the gate needs from it (read by prof) and the body to forward.
func (p *Proxy) readLogin(w http.ResponseWriter, r *http.Request, prof *loginapi.Profile) (req loginRequest, body []byte, err error) {
	if err := checkLoginHeaders(r.Header); err != nil {
		return req, nil, err
	}
	tooBig := &httpapi.Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: fmt.Sprintf("request body exceeds %d bytes", httpapi.MaxFormBytes)}
	if r.ContentLength > httpapi.MaxFormBytes {
		return req, nil, tooBig
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(loginReadTimeout))
	body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, httpapi.MaxFormBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, nil, tooBig
		}
		return req, nil, httpapi.InvalidRequest("cannot read request body")
	}
	cont, body, err := p.continuation(r, body)
	if err != nil {
		return req, nil, err
	}
	att, err := prof.ReadAttempt(r.Header.Get("Content-Type"), body, r.URL.RawQuery)
	if err != nil {
		return req, nil, httpapi.InvalidRequest("%v", err)
	}
	if att.Identifier != "" {
		if req.username, err = username.Normalize(att.Identifier); err != nil {
			return req, nil, httpapi.InvalidRequest("%v", err)
		}
	}
	if req.creds, err = gate.ReadCredentials(r, att.Fields, DeviceHeader); err != nil {
		return req, nil, err
	}
	if cont != nil {
		req.creds.Challenge, req.creds.Solution = cont.Challenge, cont.Solution
	}
	req.exact, req.guess, req.earns = att.Identifier, att.Guess, att.Earns && !p.provesNoName[r.URL.EscapedPath()]
	return req, body, nil
}

// checkLoginHeaders refuses the headers of a login that the proxy and the
// app could read differently: not exactly one Content-Type (servers keep
// the first or the last), any Content-Encoding but identity, a Connection
// header naming other headers (the proxy drops a header named there before
// forwarding, so the app would parse a body the guard never judged), and
// any Upgrade.
func checkLoginHeaders(h http.Header) error {
	if len(h["Content-Type"]) != 1 {
		return httpapi.InvalidRequest("a login must carry exactly one Content-Type")
	}
	for _, line := range h["Content-Encoding"] {
		for _, ce := range strings.Split(line, ",") {
			if ce = strings.TrimSpace(ce); ce != "" && !strings.EqualFold(ce, "identity") {
				return httpapi.InvalidRequest("a login body must not be compressed")
			}
		}
	}
	for _, line := range h["Connection"] {
		for _, tok := range strings.Split(line, ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !strings.EqualFold(tok, "keep-alive") && !strings.EqualFold(tok, "close") {
				return httpapi.InvalidRequest("Connection may only say keep-alive or close on a login")
			}
		}
	}
	if len(h["Upgrade"]) > 0 {
		return httpapi.InvalidRequest("a login cannot upgrade the connection")
	}
	return nil
}

// trustedDevice returns the id of a valid device credential for the
// username exactly as sent, or "". The proxy has no accounts, so
// credentials carry epoch 0 and there is no account read.
func (p *Proxy) trustedDevice(now time.Time, token, exactUsername string) string {
	c, ok := p.gate.Device(now, token, exactUsername)
	if !ok || device.CheckEpoch(c, 0) != nil {
		return ""
	}
	return c.ID
}

// settle reads the upstream's answer to an allowed login and settles it
// as the login's profile classes the answer (loginapi.Profile.Classify,
// which never reads a success from the status alone): a success refunds
// the reservation, and earns a device credential only when it proves the
// secret for the name sent; a failure keeps it (and, with uniform timing,
// waits for the floor); an answer that judged nothing, and any answer to
// an attempt that guessed nothing, refunds it. Only a success can mint a
// device credential. The response itself is passed back unchanged. The
// reservation is settled even if the client has gone: the app judged the
// attempt.
func (p *Proxy) settle(resp *http.Response) error {
	ex := exchangeFrom(resp.Request.Context())
	if ex == nil || ex.login == nil {
		return nil
	}
	ctx := context.WithoutCancel(resp.Request.Context())
	la := ex.login
	took := time.Since(la.start)
	resp.Header.Del(DeviceHeader)
	// An answer that cannot be read whole is marked Truncated, which no
	// profile reads as a success; the client gets what was read.
	ans, _ := loginapi.ReadAnswer(resp)
	out := ex.prof.Classify(p.cfg.Now(), ans)
	attrs := []slog.Attr{slog.String("trust", string(la.res.Verdict().Trust)), slog.Int("upstream_status", resp.StatusCode), slog.String("upstream_outcome", out.String())}
	switch {
	case resp.StatusCode >= 500:
		// The app could not judge: refund, and no trust.
		la.res.Settle(gate.Aborted, attrs...)
	case !la.guess:
		// Nothing guessable was sent (a request for a one-time code):
		// refund whatever the answer, and no trust.
		la.res.Settle(gate.Invalid, attrs...)
	case out == loginapi.Success:
		p.recent.observe(time.Now(), took)
		if !la.earns {
			// Another grant (a refresh token) or a second factor
			// succeeded: it proves no secret for this name.
			la.res.Settle(gate.Invalid, attrs...)
			break
		}
		la.res.Settle(gate.Success, attrs...)
		if tok := p.gate.IssueDevice(ctx, ex.w, p.cfg.Now(), "", la.exact, 0); tok != "" {
			ex.w.Header().Set(DeviceHeader, tok)
		}
	case out == loginapi.Failure:
		la.res.Settle(gate.Failure, attrs...)
		p.recent.observe(time.Now(), took)
		if p.cfg.UniformFailureTiming {
			p.floor.Set(p.recent.max(time.Now()))
			p.floor.Pad(ctx, la.start)
		}
	default:
		// No secret was judged (the flow expired, the app would not
		// say): refund, and no trust.
		la.res.Settle(gate.Invalid, attrs...)
	}
	return nil
}

// upstreamFailed answers when the upstream cannot be reached: 502, and an
// allowed login's reservation is refunded — the app judged nothing.
func (p *Proxy) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	if ex := exchangeFrom(r.Context()); ex != nil && ex.login != nil {
		ex.login.res.Settle(gate.Aborted, slog.String("error", "upstream unreachable"))
	}
	p.writeError(w, r, &httpapi.Error{Status: http.StatusBadGateway, Code: "temporarily_unavailable", Description: "the upstream service did not answer", RetryAfter: 1, Cause: err})
}

// rewrite builds the upstream request. ReverseProxy has already removed
// hop-by-hop headers and Forwarded and X-Forwarded-{For,Host,Proto}; the
// proxy also removes every other header a client could use to name an
// address, a scheme or a path to route by (whatever its spelling: X_Forwarded_For reaches
// WSGI apps as X-Forwarded-For), then writes the one configured header
// with the resolved client address, so the upstream can trust what it
// gets. The device credential is the proxy's and is not passed on.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.cfg.Upstream)
	ex := exchangeFrom(pr.In.Context())
	h := pr.Out.Header
	for name := range h {
		canon := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(name, "_", "-"))
		if strings.HasPrefix(canon, "X-Forwarded-") || strings.HasPrefix(canon, "X-Envoy-") || p.clientHeaders[canon] || canon == DeviceHeader || forwardingHeaders[canon] ||
			(ex != nil && ex.loginPath && methodOverrideHeaders[canon]) {
			delete(h, name)
		}
	}
	stripCookie(h, gate.DeviceCookie)
	if ex == nil {
		return
	}
	client := ex.ip.String()
	switch p.outHeader {
	case "Forwarded":
		if ex.ip.Is6() {
			client = `"[` + client + `]"`
		}
		h.Set("Forwarded", "for="+client+";proto="+p.inboundProto(pr.In, ex))
	case "X-Forwarded-For":
		h.Set("X-Forwarded-For", client)
		h.Set("X-Forwarded-Proto", p.inboundProto(pr.In, ex))
		h.Set("X-Forwarded-Host", inboundHost(pr.In, ex))
	default:
		h.Set(p.outHeader, client)
	}
}

// forwardingHeaders are the headers, besides X-Forwarded-* and X-Envoy-*,
// that name a client address or scheme to some framework, or the path it
// routes by (Symfony, Laminas and IIS route by X-Original-URL and
// X-Rewrite-URL; Envoy's own headers carry its original path): a login
// sent to /public with X-Original-URL: /token would reach the app's login
// unguarded. They are removed from every client, trusted peers included,
// since the proxy matches logins on the request path alone.
var forwardingHeaders = map[string]bool{
	"Forwarded": true, "X-Real-Ip": true, "True-Client-Ip": true, "Cf-Connecting-Ip": true,
	"X-Client-Ip": true, "X-Cluster-Client-Ip": true, "Fastly-Client-Ip": true, "X-Original-Forwarded-For": true,
	"X-Forwarded": true, "Client-Ip": true, "X-Originating-Ip": true, "X-Remote-Addr": true, "X-Remote-Ip": true,
	"X-Original-Url": true, "X-Original-Uri": true, "X-Rewrite-Url": true,
}

// methodOverrideHeaders name the method some frameworks act on instead of
// the request's own (Express's method-override, Laravel, Symfony, ASP.NET
// and others; a few honour them on GET). A GET to a login path passes
// through unguarded, since it is no login: with one of these it could be
// one to the app. They are removed from every request to a login path,
// in any spelling and from any client; elsewhere they are the app's
// business.
var methodOverrideHeaders = map[string]bool{
	"X-Http-Method-Override": true, "X-Http-Method": true, "X-Method-Override": true,
}

// inboundProto is the scheme the client used: a trusted proxy's word for
// it, else this connection's.
func (p *Proxy) inboundProto(in *http.Request, ex *exchange) string {
	if v := strings.ToLower(in.Header.Get("X-Forwarded-Proto")); ex.trustedPeer && (v == "http" || v == "https") {
		return v
	}
	if in.TLS != nil {
		return "https"
	}
	return "http"
}

// inboundHost is the host the client addressed: a trusted proxy's word
// for it, else this request's Host.
func inboundHost(in *http.Request, ex *exchange) string {
	if h := in.Header.Get("X-Forwarded-Host"); ex.trustedPeer && h != "" {
		return h
	}
	return in.Host
}

func (p *Proxy) peerTrusted(remoteAddr string) bool {
	return p.clientIP.PeerTrusted(remoteAddr)
}

// stripCookie removes the cookie name from the Cookie header of h, leaving
// the others as they were sent.
func stripCookie(h http.Header, name string) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	var kept []string
	changed := false
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			if k, _, _ := strings.Cut(strings.TrimSpace(part), "="); k == name {
				changed = true
				continue
			}
			if strings.TrimSpace(part) != "" {
				kept = append(kept, strings.TrimSpace(part))
			}
		}
	}
	switch {
	case !changed:
	case len(kept) == 0:
		delete(h, "Cookie")
	default:
		h["Cookie"] = []string{strings.Join(kept, "; ")}
	}
}

// loginSpelling is how a request path relates to the login paths.
type loginSpelling int

const (
	notLogin    loginSpelling = iota
	exactLogin                // a configured login path, byte for byte
	foldedLogin               // another spelling of one (or a path too odd to tell)
)

// loginMatch classes an escaped request path, and names an exact login
// path's profile. Only an exact login path is ever forwarded as a login,
// and what the upstream then receives is that same escaped path
// (ReverseProxy writes URL.EscapedPath), so the guard and the app judge
// one path. A path that canonicalPath cannot settle counts as a spelling
// of every login path.
func (p *Proxy) loginMatch(escaped string) (loginSpelling, *loginapi.Profile) {
	if prof := p.exact[escaped]; prof != nil {
		return exactLogin, prof
	}
	if canonical, ok := canonicalPath(escaped); !ok || p.logins[canonical] != nil {
		return foldedLogin, nil
	}
	return notLogin, nil
}
