package interstitial

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/challenge"
)

func newSealer(t *testing.T) *Sealer {
	t.Helper()
	replay, err := challenge.NewMemoryReplay(64)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, KeySize)
	_, _ = rand.Read(key)
	s, err := NewSealer(key, replay)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	b := Binding{Challenge: "chal", Client: "192.0.2.1", Target: "/login?flow=1"}
	form := []byte("identifier=alice&password=s3cret")
	tests := []struct {
		name string
		open Binding
		at   time.Time
		edit func(string) string
		want error
	}{
		{"same binding", b, t0.Add(time.Minute), nil, nil},
		{"another challenge", Binding{"chal2", b.Client, b.Target}, t0, nil, ErrMalformed},
		{"another client", Binding{b.Challenge, "192.0.2.2", b.Target}, t0, nil, ErrMalformed},
		{"another login URL", Binding{b.Challenge, b.Client, "/login?flow=2"}, t0, nil, ErrMalformed},
		{"fields shifted between values", Binding{"chal1", "92.0.2.1", b.Target}, t0, nil, ErrMalformed},
		{"expired", b, t0.Add(Lifetime), nil, ErrExpired},
		{"last second", b, t0.Add(Lifetime - time.Second), nil, nil},
		{"tampered", b, t0, func(s string) string { return s[:len(s)-2] + flip(s[len(s)-2]) + s[len(s)-1:] }, ErrMalformed},
		{"expiry changed", b, t0, func(s string) string { return s[:3] + flip(s[3]) + s[4:] }, ErrMalformed},
		{"not base64", b, t0, func(string) string { return "!!" }, ErrMalformed},
		{"truncated", b, t0, func(s string) string { return s[:20] }, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSealer(t)
			blob, err := s.Seal(rand.Reader, t0, b, form)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(blob, "alice") || strings.Contains(blob, "s3cret") {
				t.Fatal("the form shows in the blob")
			}
			if tt.edit != nil {
				blob = tt.edit(blob)
			}
			got, err := s.Open(context.Background(), tt.at, tt.open, blob)
			if !errors.Is(err, tt.want) || (err == nil && !bytes.Equal(got, form)) {
				t.Fatalf("Open: %q, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestSealedFormOpensOnce: a blob posted back twice is refused the
// second time.
func TestSealedFormOpensOnce(t *testing.T) {
	s := newSealer(t)
	now := time.Now()
	b := Binding{Challenge: "c", Client: "::1", Target: "/login"}
	blob, err := s.Seal(rand.Reader, now, b, []byte("a=b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(context.Background(), now, b, blob); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(context.Background(), now.Add(time.Second), b, blob); !errors.Is(err, ErrReplayed) {
		t.Fatalf("second Open: %v, want ErrReplayed", err)
	}
}

func TestWanted(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name   string
		header map[string]string
		want   bool
	}{
		{"navigation", map[string]string{"Content-Type": form, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, true},
		{"navigation with charset", map[string]string{"Content-Type": form + "; charset=utf-8", "Sec-Fetch-Mode": "navigate"}, true},
		{"navigation in a frame", map[string]string{"Content-Type": form, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}, false},
		{"fetch from a script", map[string]string{"Content-Type": form, "Sec-Fetch-Mode": "cors", "Accept": "text/html"}, false},
		{"same-origin fetch", map[string]string{"Content-Type": form, "Sec-Fetch-Mode": "same-origin"}, false},
		{"old browser", map[string]string{"Content-Type": form, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, true},
		{"html refused", map[string]string{"Content-Type": form, "Accept": "text/html;q=0, application/json"}, false},
		{"API client", map[string]string{"Content-Type": form, "Accept": "application/json"}, false},
		{"no Accept (Go, x/oauth2)", map[string]string{"Content-Type": form}, false},
		{"any type", map[string]string{"Content-Type": form, "Accept": "*/*"}, false},
		{"JSON navigation", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Mode": "navigate"}, false},
		{"multipart", map[string]string{"Content-Type": "multipart/form-data; boundary=x", "Sec-Fetch-Mode": "navigate"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			if got := Wanted(h); got != tt.want {
				t.Errorf("Wanted = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		name, origin string // origin: as the proxy knows it
		header       map[string]string
		want         bool
	}{
		{"same origin", "https://app.example", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://app.example"}, true},
		{"same site", "https://app.example", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://ui.app.example"}, false},
		{"cross site", "https://app.example", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, false},
		{"cross site naming this origin", "https://app.example", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://app.example"}, false},
		{"user typed", "https://app.example", map[string]string{"Sec-Fetch-Site": "none"}, false},
		{"Origin only, own", "https://app.example:8443", map[string]string{"Origin": "https://APP.example:8443"}, true},
		{"Origin only, other host", "https://app.example", map[string]string{"Origin": "https://evil.example"}, false},
		{"Origin only, other port", "https://app.example", map[string]string{"Origin": "https://app.example:8443"}, false},
		{"Origin only, other scheme", "https://app.example", map[string]string{"Origin": "http://app.example"}, false},
		{"Origin only, default port in Host", "https://app.example:443", map[string]string{"Origin": "https://app.example"}, true},
		{"Origin only, default port in Origin", "http://app.example", map[string]string{"Origin": "http://app.example:80"}, true},
		{"Origin only, trailing dot", "https://app.example", map[string]string{"Origin": "https://app.example."}, true},
		{"Origin only, IPv6", "http://[::1]:8080", map[string]string{"Origin": "http://[::1]:8080"}, true},
		{"Origin with user information", "https://app.example", map[string]string{"Origin": "https://u:p@app.example"}, false},
		{"Origin with a path", "https://app.example", map[string]string{"Origin": "https://app.example/login"}, false},
		{"Origin of another scheme", "https://app.example", map[string]string{"Origin": "javascript:app.example"}, false},
		{"opaque Origin", "https://app.example", map[string]string{"Origin": "null"}, false},
		{"no Origin at all", "https://app.example", map[string]string{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/login", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if got := SameOrigin(r, tt.origin); got != tt.want {
				t.Errorf("SameOrigin = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFromListedOrigin(t *testing.T) {
	listed := []string{"https://ui.example.com", "http://127.0.0.1:4455"}
	for _, tt := range []struct {
		origin string
		want   bool
	}{
		{"https://ui.example.com", true},
		{"https://UI.example.com:443", true},
		{"http://127.0.0.1:4455", true},
		{"http://ui.example.com", false},
		{"https://evil.example.com", false},
		{"https://ui.example.com.evil.example", false},
		{"null", false},
		{"", false},
	} {
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		r.Header.Set("Sec-Fetch-Site", "same-site")
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if got := FromListedOrigin(r, listed); got != tt.want {
			t.Errorf("Origin %q: %v, want %v", tt.origin, got, tt.want)
		}
		if FromListedOrigin(r, nil) {
			t.Errorf("Origin %q: listed with no origins", tt.origin)
		}
	}
}

func TestReadContinuation(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name, ctype, body string
		ok, err           bool
	}{
		{"continuation", form, "credshield_form=x&challenge=c&challenge_solution=1", true, false},
		{"a person's form", form, "identifier=a&password=b", false, false},
		{"an API client's solution", form, "username=a&password=b&challenge=c&challenge_solution=1", false, false},
		{"JSON", "application/json", `{"credshield_form":"x"}`, false, false},
		{"with the password beside it", form, "credshield_form=x&challenge=c&challenge_solution=1&password=b", true, true},
		{"no solution", form, "credshield_form=x&challenge=c", true, true},
		{"twice", form, "credshield_form=x&credshield_form=y&challenge=c&challenge_solution=1", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok, err := ReadContinuation(tt.ctype, []byte(tt.body))
			if ok != tt.ok || (err != nil) != tt.err {
				t.Fatalf("ReadContinuation = %+v, %v, %v; want ok %v, error %v", c, ok, err, tt.ok, tt.err)
			}
			if ok && !tt.err && (c.Sealed != "x" || c.Challenge != "c" || c.Solution != "1") {
				t.Errorf("continuation %+v", c)
			}
		})
	}
}

func TestStripFields(t *testing.T) {
	tests := []struct{ in, want string }{
		{"identifier=a&password=b", "identifier=a&password=b"},
		{"challenge=c&identifier=a%20b&challenge_solution=1&password=b", "identifier=a%20b&password=b"},
		{"identifier=a&%63hallenge=c", "identifier=a"},
		{"credshield_form=x&csrf_token=t", "csrf_token=t"},
		{"challenge", ""},
		{"challenges=1", "challenges=1"},
	}
	for _, tt := range tests {
		if got := string(StripFields([]byte(tt.in))); got != tt.want {
			t.Errorf("StripFields(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPage: the page carries the sealed form, never the form, under the
// exact CSP with a fresh nonce, uncached, and says what to do without
// JavaScript.
func TestPage(t *testing.T) {
	p, err := New("/.well-known/credshield/", newSealer(t), English)
	if err != nil {
		t.Fatal(err)
	}
	c := challenge.Challenge{Token: "tok", Difficulty: 10}
	body := []byte("identifier=alice%40example.com&password=hunter2hunter2&challenge=old&challenge_solution=9")
	r1, err := p.Render(time.Now(), c, "192.0.2.1", "/self-service/login?flow=1&x=<b>", body)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := p.Render(time.Now(), c, "192.0.2.1", "/login", body)
	page := string(r1.Body)
	for _, secret := range []string{"hunter2", "alice", "old"} {
		if strings.Contains(page, secret) {
			t.Errorf("the page holds %q in clear", secret)
		}
	}
	csp := r1.Header.Get("Content-Security-Policy")
	nonce := strings.TrimSuffix(strings.TrimPrefix(strings.Fields(csp)[3], "'nonce-"), "'")
	want := "default-src 'none'; script-src 'nonce-" + nonce + "' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; style-src 'nonce-" + nonce +
		"'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	if csp != want || len(nonce) < 20 || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "'unsafe-eval'") {
		t.Errorf("CSP %q\nwant %q", csp, want)
	}
	if r2.Header.Get("Content-Security-Policy") == csp {
		t.Error("two pages share a nonce")
	}
	if strings.Count(page, `nonce="`+nonce+`"`) != 2 {
		t.Errorf("want the style and the script under the nonce:\n%s", page)
	}
	for _, want := range []string{English.NoScript, `<form id="credshield-continue" method="post">`, `data-script="/.well-known/credshield/credshield.js"`, `data-difficulty="10"`, `name="credshield_form"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The form posts to the page's own URL, the login URL as the browser
	// sent it: the URL is not written into the page at all.
	if strings.Contains(page, "action=") || strings.Contains(page, "flow=1") {
		t.Errorf("the page names the login URL:\n%s", page)
	}
	if r1.Status != http.StatusForbidden || r1.Header.Get("Cache-Control") != "no-store" || r1.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
		r1.Header.Get("Referrer-Policy") != "same-origin" {
		t.Errorf("status %d, header %v", r1.Status, r1.Header)
	}
	if exp := p.Expired(); exp.Status != http.StatusBadRequest || !strings.Contains(string(exp.Body), English.Expired) {
		t.Errorf("expired page: %d %s", exp.Status, exp.Body)
	}
}

// TestContinuationSize: the size announced is never below what the page
// posts back.
func TestContinuationSize(t *testing.T) {
	s := newSealer(t)
	token := strings.Repeat("A", 118)
	for _, n := range []int{0, 1, 100, 4000} {
		blob, err := s.Seal(rand.Reader, time.Now(), Binding{}, make([]byte, n))
		if err != nil {
			t.Fatal(err)
		}
		sent := url.Values{FormSealed: {blob}, challenge.FormToken: {token}, challenge.FormSolution: {"18446744073709551615"}}.Encode()
		if got := ContinuationSize(n, token); got < len(sent) || got > len(sent)+4 {
			t.Errorf("ContinuationSize(%d) = %d, the page sends %d", n, got, len(sent))
		}
	}
}
