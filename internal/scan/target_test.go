package scan

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// flaws are the weaknesses a test target can be built with. The zero value
// is the hardened target: EdDSA tokens with kid, iss, aud and a 15 minute
// exp, all checked; failed logins limited per address and per username;
// one answer for every failed login; no CORS.
type flaws struct {
	algNone, sigNotVerified, keyConfusion, embeddedJWK, kidInjection, psychic bool
	weakSecret, strongHMAC                                                    bool   // HS256 signing
	noExpCheck, noClaimCheck                                                  bool   // exp; nbf, iss, aud
	noExpiry, longLife, cnf                                                   bool   // issued claims
	limit                                                                     string // "" per address and username, "none", "username", "xff"
	enumResponse, corsReflect                                                 bool
	timingGap                                                                 time.Duration
}

const (
	targetUser = "alice"
	targetPass = "correct horse battery"
	weakSecret = "your-strong-secret-key-change-this"
)

// target is a small FastAPI-style API: POST /token (OAuth2 password
// form), GET /users/me, /openapi.json and a JWKS.
type target struct {
	t      testing.TB
	f      flaws
	srv    *httptest.Server
	alg    string
	kid    string
	secret []byte
	priv   crypto.Signer
	pub    crypto.PublicKey
	keyDir string

	mu       sync.Mutex
	failures map[string]int // rate-limit key -> failed attempts
}

func newTarget(t testing.TB, f flaws) *target {
	tg := &target{t: t, f: f, kid: "k1", failures: map[string]int{}, keyDir: t.TempDir()}
	var err error
	switch {
	case f.weakSecret:
		tg.alg, tg.secret = "HS256", []byte(weakSecret)
	case f.strongHMAC:
		tg.alg, tg.secret = "HS256", []byte(rand.Text()+rand.Text())
	case f.keyConfusion:
		var k *rsa.PrivateKey
		k, err = rsa.GenerateKey(rand.Reader, 2048)
		tg.alg, tg.priv, tg.pub = "RS256", k, k.Public()
	case f.psychic:
		var k *ecdsa.PrivateKey
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tg.alg, tg.priv, tg.pub = "ES256", k, k.Public()
	default:
		var k ed25519.PrivateKey
		_, k, err = ed25519.GenerateKey(rand.Reader)
		tg.alg, tg.priv, tg.pub = "EdDSA", k, k.Public()
	}
	if err != nil {
		t.Fatal(err)
	}
	tg.srv = httptest.NewServer(tg)
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *target) url() string { return tg.srv.URL }

func (tg *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && tg.f.corsReflect {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/token":
		tg.token(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/users/me":
		sub, ok := tg.verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if !ok {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeJSON(w, 401, map[string]string{"detail": "Could not validate credentials"})
			return
		}
		writeJSON(w, 200, map[string]string{"username": sub})
	case r.URL.Path == "/openapi.json":
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(fastAPISpec))
	case r.URL.Path == "/.well-known/jwks.json" && tg.pub != nil:
		k := jose.JSONWebKey{Key: tg.pub, KeyID: tg.kid, Algorithm: tg.alg, Use: "sig"}
		writeJSON(w, 200, map[string]any{"keys": []any{k}})
	default:
		writeJSON(w, 404, map[string]string{"detail": "Not Found"})
	}
}

// fastAPISpec is what FastAPI generates for the seed app.
const fastAPISpec = `{"openapi":"3.1.0","info":{"title":"FastAPI","version":"0.1.0"},
"paths":{"/token":{"post":{"summary":"Login","operationId":"login_token_post","requestBody":{"content":{"application/x-www-form-urlencoded":{"schema":{"$ref":"#/components/schemas/Body_login_token_post"}}},"required":true}}},
"/users/me":{"get":{"summary":"Read Users Me","operationId":"read_users_me_users_me_get","security":[{"OAuth2PasswordBearer":[]}]}},
"/items/{item_id}":{"get":{"security":[{"OAuth2PasswordBearer":[]}]}}},
"components":{"securitySchemes":{"OAuth2PasswordBearer":{"type":"oauth2","flows":{"password":{"scopes":{},"tokenUrl":"token"}}}}}}`

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// limitKey returns the key failed logins are counted under, or "" when
// this flaw set does not limit by address.
func (tg *target) limitKey(r *http.Request) string {
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	if tg.f.limit == "xff" {
		for _, h := range []string{"X-Forwarded-For", "X-Real-IP"} {
			if v := r.Header.Get(h); v != "" {
				return strings.TrimSpace(strings.Split(v, ",")[0])
			}
		}
		if v := r.Header.Get("Forwarded"); v != "" {
			return strings.TrimPrefix(v, "for=")
		}
	}
	return ip
}

func (tg *target) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 422, map[string]string{"detail": "bad form"})
		return
	}
	user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
	ipKey, userKey := "ip:"+tg.limitKey(r), "user:"+user
	tg.mu.Lock()
	limited := false
	switch tg.f.limit {
	case "":
		limited = tg.failures[ipKey] >= 20 || tg.failures[userKey] >= 10
	case "xff":
		limited = tg.failures[ipKey] >= 20
	case "username":
		limited = tg.failures[userKey] >= 5
	}
	tg.mu.Unlock()
	if limited {
		w.Header().Set("Retry-After", "60")
		writeJSON(w, 429, map[string]string{"detail": "Too many login attempts. Try again later."})
		return
	}
	if user != targetUser || pass != targetPass {
		tg.mu.Lock()
		tg.failures[ipKey]++
		tg.failures[userKey]++
		tg.mu.Unlock()
		switch {
		case tg.f.enumResponse && user != targetUser:
			writeJSON(w, 404, map[string]string{"detail": "User not found"})
		case tg.f.enumResponse:
			writeJSON(w, 401, map[string]string{"detail": "Incorrect password"})
		default:
			if user == targetUser && tg.f.timingGap > 0 {
				time.Sleep(tg.f.timingGap) // the target under test is slow on purpose: this is the flaw
			}
			writeJSON(w, 401, map[string]string{"detail": "Incorrect username or password"})
		}
		return
	}
	now := time.Now()
	claims := map[string]any{"sub": targetUser, "iss": tg.url(), "aud": tg.url(), "iat": now.Unix(), "jti": rand.Text()}
	switch {
	case tg.f.noExpiry:
	case tg.f.longLife:
		claims["exp"] = now.Add(24 * time.Hour).Unix()
	default:
		claims["exp"] = now.Add(15 * time.Minute).Unix()
	}
	if tg.f.cnf {
		claims["cnf"] = map[string]string{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
	}
	writeJSON(w, 200, map[string]any{"access_token": tg.sign(claims), "token_type": "bearer"})
}

func (tg *target) sign(claims map[string]any) string {
	h := map[string]any{"alg": tg.alg, "typ": "JWT", "kid": tg.kid}
	input := signingInput(h, claims)
	if tg.secret != nil {
		return hmacToken(h, claims, tg.secret)
	}
	tok, err := signAsym(tg.alg, tg.priv, rand.Reader, input)
	if err != nil {
		tg.t.Error(err)
	}
	return tok
}

// verify is the target's token check, hardened unless a flaw says
// otherwise.
func (tg *target) verify(tok string) (string, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", false
	}
	var h map[string]any
	var c map[string]any
	hb, err1 := b64.DecodeString(parts[0])
	cb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		return "", false
	}
	input := []byte(parts[0] + "." + parts[1])
	alg, _ := h["alg"].(string)
	kid, _ := h["kid"].(string)
	ok := false
	switch {
	case tg.f.sigNotVerified:
		ok = true
	case tg.f.algNone && strings.EqualFold(alg, "none"):
		ok = len(sig) == 0
	case tg.f.embeddedJWK && h["jwk"] != nil:
		jb, _ := json.Marshal(h["jwk"])
		var k jose.JSONWebKey
		if k.UnmarshalJSON(jb) == nil {
			ok = verifyAsym(k.Key, input, sig)
		}
	case tg.f.kidInjection && kid != tg.kid && alg == "HS256":
		key, err := os.ReadFile(filepath.Join(tg.keyDir, kid)) // the flaw: kid as a path
		ok = err == nil && checkHMAC(key, input, sig)
	case kid != tg.kid:
	case alg == "HS256" && tg.secret != nil:
		ok = checkHMAC(tg.secret, input, sig)
	case alg == "HS256" && tg.f.keyConfusion:
		der, _ := x509.MarshalPKIXPublicKey(tg.pub)
		ok = checkHMAC(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), input, sig)
	case alg == "ES256" && tg.f.psychic && len(sig) == 64 && new(big.Int).SetBytes(sig[:32]).Sign() == 0 && new(big.Int).SetBytes(sig[32:]).Sign() == 0:
		ok = true // CVE-2022-21449
	case alg == tg.alg && tg.pub != nil:
		ok = verifyAsym(tg.pub, input, sig)
	}
	if !ok {
		return "", false
	}
	now := float64(time.Now().Unix())
	exp, hasExp := c["exp"].(float64)
	if !tg.f.noExpCheck && ((!hasExp && !tg.f.noExpiry) || (hasExp && exp <= now)) {
		return "", false
	}
	if !tg.f.noClaimCheck {
		if nbf, ok := c["nbf"].(float64); ok && nbf > now {
			return "", false
		}
		if c["iss"] != tg.url() || c["aud"] != tg.url() {
			return "", false
		}
	}
	sub, _ := c["sub"].(string)
	return sub, sub == targetUser
}

func checkHMAC(key, input, sig []byte) bool {
	m := hmac.New(sha256.New, key)
	m.Write(input)
	return hmac.Equal(m.Sum(nil), sig)
}

func verifyAsym(pub crypto.PublicKey, input, sig []byte) bool {
	d := sha256.Sum256(input)
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(k, input, sig)
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			return false
		}
		return ecdsa.Verify(k, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil
	}
	return false
}
