package scan

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// seedApp replicates, line by line, the FastAPI "remediation" of the seed
// (/work/shared/seed-credential-stuffing-fastapi-jwt.txt): a per-username
// limit of 5 attempts in 300 s that counts every attempt, HS256 with
// "your-strong-secret-key-change-this", 30 minute tokens, PyJWT's decode
// with algorithms=["HS256"] (exp and nbf checked when present, exp not
// required, iss ignored), 401 "Incorrect credentials" for every failure.
type seedApp struct {
	mu            sync.Mutex
	loginAttempts map[string][]time.Time // grows forever, as in the seed
}

func (a *seedApp) rateLimit(username string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	var recent []time.Time
	for _, t := range a.loginAttempts[username] {
		if now.Sub(t) < 300*time.Second {
			recent = append(recent, t)
		}
	}
	if len(recent) >= 5 {
		return false
	}
	a.loginAttempts[username] = append(recent, now)
	return true
}

func (a *seedApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	detail := func(status int, d string) { writeJSON(w, status, map[string]string{"detail": d}) }
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/openapi.json":
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(fastAPISpec))
	case r.Method == http.MethodPost && r.URL.Path == "/token":
		if err := r.ParseForm(); err != nil || r.PostForm.Get("username") == "" || r.PostForm.Get("password") == "" {
			detail(422, "field required")
			return
		}
		username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
		if !a.rateLimit(username, time.Now()) {
			detail(429, "Too many login attempts. Try again later.")
			return
		}
		if username == "valid_user" && password == "correct_password" {
			claims := map[string]any{"sub": username, "exp": time.Now().Add(30 * time.Minute).Unix()}
			tok := hmacToken(map[string]any{"alg": "HS256", "typ": "JWT"}, claims, []byte(weakSecret))
			writeJSON(w, 200, map[string]string{"access_token": tok, "token_type": "bearer"})
			return
		}
		detail(401, "Incorrect credentials")
	case r.Method == http.MethodGet && r.URL.Path == "/users/me":
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "Bearer ") {
			w.Header().Set("WWW-Authenticate", "Bearer")
			detail(401, "Not authenticated")
			return
		}
		username, msg := pyjwtDecode(strings.TrimPrefix(auth, "Bearer "))
		if msg != "" {
			detail(401, msg)
			return
		}
		writeJSON(w, 200, map[string]string{"username": username})
	default:
		detail(404, "Not Found")
	}
}

// pyjwtDecode is jwt.decode(token, SECRET_KEY, algorithms=["HS256"]) and
// the seed's verify_token around it.
func pyjwtDecode(tok string) (string, string) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", "Invalid token"
	}
	var h, c map[string]any
	hb, e1 := b64.DecodeString(parts[0])
	cb, e2 := b64.DecodeString(parts[1])
	sig, e3 := b64.DecodeString(parts[2])
	if e1 != nil || e2 != nil || e3 != nil || json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		return "", "Invalid token"
	}
	if h["alg"] != "HS256" || !checkHMAC([]byte(weakSecret), []byte(parts[0]+"."+parts[1]), sig) {
		return "", "Invalid token"
	}
	now := float64(time.Now().Unix())
	if exp, ok := c["exp"].(float64); ok && exp <= now {
		return "", "Token expired"
	}
	if nbf, ok := c["nbf"].(float64); ok && nbf > now {
		return "", "Invalid token"
	}
	if _, ok := c["aud"]; ok { // an aud claim without an expected audience
		return "", "Invalid token"
	}
	sub, _ := c["sub"].(string)
	if sub == "" {
		return "", "Invalid token"
	}
	return sub, ""
}

// TestSeedApp is the "done when" of the scanner: run against the seed's
// FastAPI app it names every weakness the app has and invents none.
func TestSeedApp(t *testing.T) {
	srv := httptest.NewServer(&seedApp{loginAttempts: map[string][]time.Time{}})
	defer srv.Close()
	rep := scanTarget(t, srv.URL, func(o *Options) { o.Username, o.Password = "valid_user", "correct_password" })
	want := []string{
		JWTWeakSecret,     // the secret is in every list of defaults
		RateLimitUsername, // per username only: rotating names is never throttled
		JWTNoExpiry,       // PyJWT does not require exp: a forged token without one is accepted
		JWTSymmetricAlg,   // HS256
		JWTNotSenderBound, // bearer tokens
	}
	sort.Strings(want)
	if got := ids(rep); !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	for _, f := range rep.Findings {
		t.Logf("%s %s: %s", f.Severity, f.ID, f.Evidence.Summary)
	}
	// The login spends one of valid_user's five attempts, so only four
	// pairs of failures fit before the limit: too few for a timing
	// verdict, and the scanner says so instead of guessing.
	if len(rep.Inconclusive) != 1 || rep.Inconclusive[0].ID != EnumTiming {
		t.Errorf("inconclusive %+v, want only %s", rep.Inconclusive, EnumTiming)
	}
	if rep.Crack == nil || !rep.Crack.SecretRecovered {
		t.Errorf("crack stats %+v", rep.Crack)
	}
	t.Logf("%d requests", rep.RequestsSent)
}
