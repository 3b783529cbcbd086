package standin

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// GoTrue is a stand-in for Supabase Auth (GoTrue) v2.196's password
// grant: POST /token?grant_type=password (also at /auth/v1/token, as
// behind Supabase's gateway) with a JSON body {"email"|"phone",
// "password"} decoded by encoding/json whatever the Content-Type:
//
//   - success: 200 {"access_token","token_type":"bearer","expires_in",
//     "expires_at","refresh_token","user"};
//   - a wrong password or unknown account: 400 {"code":400,"error_code":
//     "invalid_credentials","msg":"Invalid login credentials"}, or
//     {"code":"invalid_credentials","message":…} when the client sends
//     X-Supabase-Api-Version: 2024-01-01; x-sb-error-code names the code;
//   - email and phone together: 400 validation_failed; another grant
//     type: 400.
//
// Its rate limit is GoTrue's: a token bucket per value of the first entry
// of one header it trusts (GOTRUE_RATE_LIMIT_HEADER, here
// RateLimitHeader, default X-Forwarded-For), Rate per second with Burst
// (GoTrue's defaults: 150 per 5 minutes, burst 30), checked before the
// password, answered 429 over_request_rate_limit. A request without that
// header is not limited at all, and whoever can write the header chooses
// their own bucket.
//
// Build it with NewGoTrue; it is safe for concurrent use.
type GoTrue struct {
	RateLimitHeader string
	Rate            rate.Limit
	Burst           int
	// Now is the clock of the rate limit; default time.Now.
	Now func() time.Time

	users   *users
	clients clientLog

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// NewGoTrue returns a stand-in with the given accounts (email or phone, as
// GoTrue stores it, to password) and GoTrue's default token rate limit.
func NewGoTrue(accounts map[string]string) *GoTrue {
	return &GoTrue{RateLimitHeader: "X-Forwarded-For", Rate: rate.Limit(150.0 / (5 * 60)), Burst: 30, Now: time.Now,
		users: newUsers(accounts), buckets: map[string]*rate.Limiter{}}
}

// Checks is the number of password hashes computed so far.
func (g *GoTrue) Checks() int64 { return g.users.checks.Load() }

// ClientIPs lists the rate-limit key of each password grant, as GoTrue
// reads it ("" when there was none).
func (g *GoTrue) ClientIPs() []string { return g.clients.list() }

// GoTrueInvalid is GoTrue's message for a failed password grant.
const GoTrueInvalid = "Invalid login credentials"

// GoTrueVersion is the version the stand-in's /health says it is.
const GoTrueVersion = "v2.196.0"

func (g *GoTrue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if (r.URL.Path == "/health" || r.URL.Path == "/auth/v1/health") && r.Method == http.MethodGet {
		// GoTrue's HealthCheck (api/api.go): its name and version.
		writeJSON(w, http.StatusOK, map[string]string{"version": GoTrueVersion, "name": "GoTrue",
			"description": "GoTrue is a user registration and authentication API"})
		return
	}
	if (r.URL.Path != "/token" && r.URL.Path != "/auth/v1/token") || r.Method != http.MethodPost {
		g.error(w, r, http.StatusNotFound, "not_found", "Not found")
		return
	}
	// Token reads grant_type with FormValue: the query, or a form body.
	switch r.FormValue("grant_type") {
	case "password":
	case "refresh_token", "id_token", "pkce", "web3":
		g.error(w, r, http.StatusBadRequest, "bad_json", "This stand-in knows only the password grant")
		return
	default:
		g.error(w, r, http.StatusBadRequest, "invalid_credentials", "unsupported_grant_type")
		return
	}
	key := ""
	if v := r.Header.Get(g.RateLimitHeader); v != "" {
		first, _, _ := strings.Cut(v, ",")
		key = strings.TrimSpace(first)
	}
	g.clients.add(key)
	if key != "" && !g.bucket(key).AllowN(g.Now(), 1) {
		g.error(w, r, http.StatusTooManyRequests, "over_request_rate_limit", "Request rate limit reached")
		return
	}
	var params struct {
		Email    string `json:"email"`
		Phone    string `json:"phone"`
		Password string `json:"password"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, &params) != nil {
		g.error(w, r, http.StatusBadRequest, "bad_json", "Could not parse request body as JSON")
		return
	}
	var name string
	switch {
	case params.Email != "" && params.Phone != "":
		g.error(w, r, http.StatusBadRequest, "validation_failed", "Only an email address or phone number should be provided on login.")
		return
	case params.Email != "":
		name = params.Email
	case params.Phone != "":
		name = strings.ReplaceAll(strings.TrimPrefix(params.Phone, "+"), " ", "")
	default:
		g.error(w, r, http.StatusBadRequest, "validation_failed", "missing email or phone")
		return
	}
	if !g.users.check(name, params.Password) {
		g.error(w, r, http.StatusBadRequest, "invalid_credentials", GoTrueInvalid)
		return
	}
	now := time.Now()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": randomToken(), "token_type": "bearer", "expires_in": 3600, "expires_at": now.Add(time.Hour).Unix(),
		"refresh_token": randomToken()[:12], "user": map[string]any{"id": randomToken(), "aud": "authenticated", "role": "authenticated", "email": params.Email},
	})
}

func (g *GoTrue) bucket(key string) *rate.Limiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.buckets[key]
	if !ok {
		b = rate.NewLimiter(g.Rate, g.Burst)
		g.buckets[key] = b
	}
	return b
}

// error answers in GoTrue's HTTPError shape for the client's API version.
func (g *GoTrue) error(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("X-Sb-Error-Code", code)
	if r.Header.Get("X-Supabase-Api-Version") >= "2024-01-01" {
		writeJSON(w, status, map[string]any{"code": code, "message": msg})
		return
	}
	writeJSON(w, status, map[string]any{"code": status, "error_code": code, "msg": msg})
}
