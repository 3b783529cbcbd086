package server

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
	"path"
	"strings"
	"time"

	"github.com/credshield/credshield/clientip"
	"github.com/credshield/credshield/device"
	"github.com/credshield/credshield/guard"
	"github.com/credshield/credshield/store"
	"github.com/credshield/credshield/username"
)

// DeviceHeader carries the device credential for API clients of a
// protected app: the proxy reads it on a login and sets it on a successful
// one (browsers get the __Host- cookie serve sets). The app never sees it.
const DeviceHeader = "Credshield-Device"

// loginReadTimeout bounds how long a client may take to send a login body;
// the proxy's server has no read timeout of its own, since pass-through
// traffic (uploads, websockets) may take as long as it likes.
const loginReadTimeout = 10 * time.Second

// ProxyConfig is the proxy's part of the protect configuration, already
// validated by package config.
type ProxyConfig struct {
	// Upstream is the protected app; its path, if any, prefixes every
	// forwarded path.
	Upstream *url.URL
	// LoginPaths are the app's login endpoints. A POST to one of them
	// (compared after cleaning, without a trailing slash and ignoring
	// case, so /Token/ or //token cannot slip past) is a login attempt.
	LoginPaths []string
	// UsernameField is the form or JSON field holding the username.
	UsernameField string
	// Success and Failure class the app's answer to a login; any other
	// status refunds the attempt. Both are required.
	Success, Failure func(status int) bool
	// UniformFailureTiming pads every failed login to a floor learnt from
	// the app's recent login latencies (see latencyWindow), never less
	// than FailureFloor.
	UniformFailureTiming bool
	FailureFloor         time.Duration
	// TrustedProxies are the peers whose X-Forwarded-Proto and
	// X-Forwarded-Host are passed on (the client address comes from
	// ClientIP, configured with the same prefixes).
	TrustedProxies []netip.Prefix
	// DeviceCookieSameSite is the SameSite of the device cookie (default
	// Strict).
	DeviceCookieSameSite http.SameSite
	// Transport reaches the upstream; default a transport with dial
	// timeouts that ignores HTTP_PROXY.
	Transport http.RoundTripper
	// Now is the guard's clock; default time.Now.
	Now func() time.Time
}

// ProxyDeps are the parts a Proxy is built from; all are required except
// Metrics.
type ProxyDeps struct {
	Guard      Guard
	Devices    Devices
	Challenges Challenges
	// Hasher bounds challenge verification (one argon2id evaluation each).
	Hasher   Hasher
	ClientIP *clientip.Resolver
	Log      *slog.Logger
	Metrics  *Metrics
}

// Proxy is `credshield protect`: a reverse proxy that puts the guard in
// front of another app's own login endpoint. A login attempt is parsed,
// its username normalised, and checked by the guard before the app sees
// anything; refused attempts get exactly serve's challenge_required and
// 429 answers, allowed ones are forwarded unchanged and the app's status
// settles the guard's reservation. Everything else passes through
// untouched except for the forwarding headers, which the proxy owns. Build
// it with NewProxy; it is safe for concurrent use.
type Proxy struct {
	loginGate
	cfg      ProxyConfig
	clientIP *clientip.Resolver
	logins   map[string]bool // loginKey of each login path
	rp       *httputil.ReverseProxy
	floor    *floor
	recent   *latencyWindow
	handler  http.Handler
}

// NewProxy builds a Proxy.
func NewProxy(cfg ProxyConfig, d ProxyDeps) (*Proxy, error) {
	if cfg.Upstream == nil || (cfg.Upstream.Scheme != "http" && cfg.Upstream.Scheme != "https") || cfg.Upstream.Host == "" {
		return nil, errors.New("proxy: an http or https upstream is required")
	}
	if len(cfg.LoginPaths) == 0 || cfg.UsernameField == "" || cfg.Success == nil || cfg.Failure == nil {
		return nil, errors.New("proxy: login paths, username field and success and failure statuses are required")
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
	gate, err := newLoginGate(d.Guard, d.Devices, d.Challenges, d.Hasher, d.Log, d.Metrics, cfg.Now, cfg.DeviceCookieSameSite)
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		loginGate: gate,
		cfg:       cfg,
		clientIP:  d.ClientIP,
		logins:    make(map[string]bool, len(cfg.LoginPaths)),
		floor:     newFloor(cfg.FailureFloor),
		recent:    &latencyWindow{},
	}
	for _, lp := range cfg.LoginPaths {
		p.logins[loginKey(lp)] = true
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      cfg.Transport,
		FlushInterval:  -1, // stream: flush every write (SSE, chunked downloads)
		ModifyResponse: p.settle,
		ErrorHandler:   p.upstreamFailed,
		ErrorLog:       slog.NewLogLogger(d.Log.Handler(), slog.LevelWarn),
	}
	p.handler = p.recoverPanics(http.HandlerFunc(p.serve))
	return p, nil
}

// upstreamTransport is http.DefaultTransport's tuning without its
// HTTP_PROXY lookup: the upstream is reached directly.
func upstreamTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
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
	return p.httpServer(addr, p)
}

// exchange is one request's state, carried in its context from serve to
// rewrite, settle and upstreamFailed.
type exchange struct {
	ip          netip.Addr
	trustedPeer bool
	w           http.ResponseWriter
	login       *loginAttempt // nil for pass-through requests
}

// loginAttempt is an allowed login on its way to the upstream.
type loginAttempt struct {
	username string
	verdict  guard.Verdict
	start    time.Time // when it was forwarded
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
	if r.Method == http.MethodPost && p.logins[loginKey(r.URL.Path)] {
		if err := p.login(w, r, ex); err != nil {
			p.writeError(w, r, err)
		}
		return
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
func (p *Proxy) login(w http.ResponseWriter, r *http.Request, ex *exchange) error {
	ctx := r.Context()
	req, body, err := p.readLogin(w, r)
	if err != nil {
		p.metrics.attempt(outcomeInvalid)
		return err
	}
	now := p.now()
	verdict, ok, err := p.admit(ctx, w, now, ex.ip, req, p.trustedDevice(now, req))
	if !ok {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	ex.login = &loginAttempt{username: req.username, verdict: verdict, start: time.Now()}
	p.rp.ServeHTTP(w, r)
	return nil
}

// readLogin reads a login body (capped at MaxFormBytes) and what the guard
// needs from it.
func (p *Proxy) readLogin(w http.ResponseWriter, r *http.Request) (passwordGrant, []byte, error) {
	var req passwordGrant
	tooBig := &oauthError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: fmt.Sprintf("request body exceeds %d bytes", MaxFormBytes)}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return req, nil, invalidRequest("a login body must not be compressed")
	}
	if r.ContentLength > MaxFormBytes {
		return req, nil, tooBig
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(loginReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxFormBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, nil, tooBig
		}
		return req, nil, invalidRequest("cannot read request body")
	}
	fields, err := parseLoginBody(r.Header.Get("Content-Type"), body, p.cfg.UsernameField)
	if err != nil {
		return req, nil, invalidRequest("%v", err)
	}
	for k := range r.URL.Query() {
		if strings.EqualFold(k, p.cfg.UsernameField) {
			// An app that reads the name from the query would be judged
			// on a name the guard never saw.
			return req, nil, invalidRequest("%s must be sent in the body, not the query", quoteShort(p.cfg.UsernameField))
		}
	}
	name, ok := fields[p.cfg.UsernameField]
	if !ok {
		return req, nil, invalidRequest("missing parameter: %s", p.cfg.UsernameField)
	}
	if req.username, err = username.Normalize(name); err != nil {
		return req, nil, invalidRequest("%v", err)
	}
	if err := req.readAdaptive(r, fields, DeviceHeader); err != nil {
		return req, nil, err
	}
	return req, body, nil
}

// trustedDevice returns the id of a valid device credential for the
// username of req, or "". The proxy has no accounts, so credentials carry
// epoch 0 and there is no account read.
func (p *Proxy) trustedDevice(now time.Time, req passwordGrant) string {
	if req.device == "" {
		return ""
	}
	c, err := p.devices.Verify(now, req.device, req.username)
	if err != nil || device.CheckEpoch(c, 0) != nil {
		return ""
	}
	return c.ID
}

// settle reads the upstream's answer to an allowed login: success refunds
// the reservation and earns a device credential, failure keeps it (and,
// with uniform timing, waits for the floor), anything else refunds it.
// The response itself is passed back unchanged.
func (p *Proxy) settle(resp *http.Response) error {
	ex := exchangeFrom(resp.Request.Context())
	if ex == nil || ex.login == nil {
		return nil
	}
	ctx := resp.Request.Context()
	la := ex.login
	took := time.Since(la.start)
	resp.Header.Del(DeviceHeader)
	attrs := []slog.Attr{slog.String("username", la.username), slog.String("ip", ex.ip.String()),
		slog.String("trust", string(la.verdict.Trust)), slog.Int("upstream_status", resp.StatusCode)}
	switch {
	case p.cfg.Success(resp.StatusCode):
		p.record(ctx, la.verdict, guard.Success)
		p.metrics.attempt(outcomeSuccess)
		p.recent.observe(time.Now(), took)
		if tok := p.issueDevice(ctx, ex.w, p.now(), store.User{Username: la.username}); tok != "" {
			ex.w.Header().Set(DeviceHeader, tok)
		}
		p.log.LogAttrs(ctx, slog.LevelInfo, "login.success", attrs...)
	case p.cfg.Failure(resp.StatusCode):
		p.record(ctx, la.verdict, guard.Failure)
		p.metrics.attempt(outcomeFailure)
		p.recent.observe(time.Now(), took)
		p.log.LogAttrs(ctx, slog.LevelInfo, "login.failure", attrs...)
		if p.cfg.UniformFailureTiming {
			p.floor.set(p.recent.max(time.Now()))
			p.floor.pad(ctx, la.start)
		}
	default:
		// No password was judged (or the app would not say): refund.
		p.record(ctx, la.verdict, guard.Aborted)
		if resp.StatusCode >= 500 {
			p.metrics.attempt(outcomeUnavailable)
		} else {
			p.metrics.attempt(outcomeInvalid)
		}
		p.log.LogAttrs(ctx, slog.LevelInfo, "login.unsettled", attrs...)
	}
	return nil
}

// upstreamFailed answers when the upstream cannot be reached: 502, and an
// allowed login's reservation is refunded — the app judged nothing.
func (p *Proxy) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	if ex := exchangeFrom(r.Context()); ex != nil && ex.login != nil {
		p.record(r.Context(), ex.login.verdict, guard.Aborted)
		p.metrics.attempt(outcomeUnavailable)
	}
	p.writeError(w, r, &oauthError{Status: http.StatusBadGateway, Code: "temporarily_unavailable", Description: "the upstream service did not answer", RetryAfter: 1, Cause: err})
}

// rewrite builds the upstream request. ReverseProxy has already removed
// hop-by-hop headers and Forwarded and X-Forwarded-{For,Host,Proto}; the
// proxy also removes every other header a client could use to name an
// address or a scheme (whatever its spelling: X_Forwarded_For reaches
// WSGI apps as X-Forwarded-For), then writes the one configured header
// with the resolved client address, so the upstream can trust what it
// gets. The device credential is the proxy's and is not passed on.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.cfg.Upstream)
	ex := exchangeFrom(pr.In.Context())
	h := pr.Out.Header
	configured := p.clientIP.Header()
	for name := range h {
		canon := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(name, "_", "-"))
		if strings.HasPrefix(canon, "X-Forwarded-") || canon == configured || canon == DeviceHeader || forwardingHeaders[canon] {
			delete(h, name)
		}
	}
	stripCookie(h, deviceCookie)
	if ex == nil {
		return
	}
	client := ex.ip.String()
	switch configured {
	case "Forwarded":
		if ex.ip.Is6() {
			client = `"[` + client + `]"`
		}
		h.Set("Forwarded", "for="+client+";proto="+p.inboundProto(pr.In, ex))
	case "X-Forwarded-For":
		h.Set("X-Forwarded-For", client)
		h.Set("X-Forwarded-Proto", p.inboundProto(pr.In, ex))
		host := pr.In.Host
		if ex.trustedPeer && pr.In.Header.Get("X-Forwarded-Host") != "" {
			host = pr.In.Header.Get("X-Forwarded-Host")
		}
		h.Set("X-Forwarded-Host", host)
	default:
		h.Set(configured, client)
	}
}

// forwardingHeaders are the headers, besides X-Forwarded-*, that name a
// client address or scheme to some framework.
var forwardingHeaders = map[string]bool{
	"Forwarded": true, "X-Real-Ip": true, "True-Client-Ip": true, "Cf-Connecting-Ip": true,
	"X-Client-Ip": true, "X-Cluster-Client-Ip": true, "Fastly-Client-Ip": true, "X-Original-Forwarded-For": true,
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

func (p *Proxy) peerTrusted(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	for _, pfx := range p.cfg.TrustedProxies {
		if pfx.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
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

// loginKey is how login paths are compared: cleaned (so //token and
// /a/../token are /token), without a trailing slash, and case-folded,
// since frameworks differ on all three and the guard must see every
// spelling the app might route to its login.
func loginKey(p string) string {
	if p == "" {
		p = "/"
	}
	return strings.ToLower(path.Clean("/" + p))
}
