package browser

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// versioned finds the content-hashed name that body loads, by pattern.
func versioned(t *testing.T, body []byte, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).Find(body)
	if m == nil {
		t.Fatalf("no name matching %s in %.200s", pattern, body)
	}
	return string(m)
}

// TestHandlerServesAssets walks from the stable credshield.js to the
// worker and the argon2 library it loads, checking what each is served
// with: the stable name revalidated, versioned names immutable and named
// for their content.
func TestHandlerServesAssets(t *testing.T) {
	const prefix = "/auth/assets/"
	h, err := New(prefix)
	if err != nil {
		t.Fatal(err)
	}
	read := func(path string) (*http.Response, []byte) {
		res := get(t, h, http.MethodGet, path)
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	res, js := read(prefix + "credshield.js")
	solver := versioned(t, js, `solver\.[0-9a-f]{16}\.js`)
	_, solverBody := read(prefix + solver)
	argon2id := versioned(t, solverBody, `argon2id\.[0-9a-f]{16}\.js`)
	argon2 := versioned(t, solverBody, `hash-wasm-argon2\.[0-9a-f]{16}\.wasm`)
	blake2b := versioned(t, solverBody, `hash-wasm-blake2b\.[0-9a-f]{16}\.wasm`)
	_, dts := read(prefix + "credshield.d.ts")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(dts), "class Credshield") {
		t.Fatalf("credshield.js %d, d.ts %.60q", res.StatusCode, dts)
	}

	tests := []struct {
		name, path, contentType, cacheControl string
		hashed                                bool
	}{
		{"module", "credshield.js", "text/javascript; charset=utf-8", "no-cache", false},
		{"types", "credshield.d.ts", "text/plain; charset=utf-8", "no-cache", false},
		{"worker", solver, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", true},
		{"argon2id", argon2id, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", true},
		{"argon2 module", argon2, "application/wasm", "public, max-age=31536000, immutable", true},
		{"blake2b module", blake2b, "application/wasm", "public, max-age=31536000, immutable", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := read(prefix + tt.path)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if got := res.Header.Get("Cache-Control"); got != tt.cacheControl {
				t.Errorf("Cache-Control %q, want %q", got, tt.cacheControl)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			// The worker runs under this policy: it fetches its modules
			// and compiles them, nothing more.
			const csp = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; frame-ancestors 'none'"
			if got := res.Header.Get("Content-Security-Policy"); got != csp {
				t.Errorf("Content-Security-Policy %q, want %q", got, csp)
			}
			if tt.hashed {
				sum := sha256.Sum256(body)
				if !strings.Contains(tt.path, "."+hex.EncodeToString(sum[:8])+".") {
					t.Errorf("%s is not named for its content (sha256 %x...)", tt.path, sum[:8])
				}
			}
			etag := res.Header.Get("ETag")
			if again := get(t, h, http.MethodGet, prefix+tt.path, "If-None-Match", etag); etag == "" || again.StatusCode != http.StatusNotModified {
				t.Errorf("revalidation with ETag %q: %d, want 304", etag, again.StatusCode)
			}
			if head := get(t, h, http.MethodHead, prefix+tt.path); head.StatusCode != http.StatusOK {
				t.Errorf("HEAD: %d", head.StatusCode)
			}
		})
	}
}

func TestHandlerRefusals(t *testing.T) {
	h, err := New(DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"unknown file", "GET", DefaultPrefix + "nope.js", http.StatusNotFound},
		{"the directory", "GET", DefaultPrefix, http.StatusNotFound},
		{"the embedded source of the worker", "GET", DefaultPrefix + "solver.js", http.StatusNotFound},
		{"the unversioned module", "GET", DefaultPrefix + "vendor/hash-wasm-argon2.wasm", http.StatusNotFound},
		{"dot segments", "GET", DefaultPrefix + "../credshield.js", http.StatusNotFound},
		{"POST", "POST", DefaultPrefix + "credshield.js", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, h, tt.method, tt.path)
			if res.StatusCode != tt.status || res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s: %d %s, want %d JSON", tt.method, tt.path, res.StatusCode, res.Header.Get("Content-Type"), tt.status)
			}
		})
	}
}

// TestWrap: the prefix is served, every other path reaches the wrapped
// handler untouched (protect shadows nothing else of the app).
func TestWrap(t *testing.T) {
	h, err := New(DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var reached []string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = append(reached, r.URL.Path) })
	wrapped := h.Wrap(next)
	for _, p := range []string{"/token", "/.well-known/credshield", "/.well-known/jwks.json", "/credshield.js"} {
		get(t, wrapped, http.MethodGet, p)
	}
	get(t, wrapped, http.MethodGet, DefaultPrefix+"credshield.js")
	if strings.Join(reached, " ") != "/token /.well-known/credshield /.well-known/jwks.json /credshield.js" {
		t.Errorf("passed through: %q", reached)
	}
}

func TestCheckPrefix(t *testing.T) {
	tests := []struct {
		prefix string
		ok     bool
	}{
		{DefaultPrefix, true},
		{"/assets/", true},
		{"/a/b/c/", true},
		{"", false},
		{"/", false},
		{"assets/", false},
		{"/assets", false},
		{"/a//b/", false},
		{"/a/../b/", false},
		{"/a/./", false},
		{"/a%2f/", false},
		{"/a?/", false},
	}
	for _, tt := range tests {
		if err := CheckPrefix(tt.prefix); (err == nil) != tt.ok {
			t.Errorf("CheckPrefix(%q) = %v, want ok %v", tt.prefix, err, tt.ok)
		}
	}
}

// TestVendoredLibraryIsRecorded: the hash-wasm modules served to browsers
// are the ones static/vendor/VERSION records (and scripts/fetch-hash-wasm.sh
// checks against npm), byte for byte.
func TestVendoredLibraryIsRecorded(t *testing.T) {
	version, err := os.ReadFile("static/vendor/VERSION")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"argon2", "blake2b"} {
		m := regexp.MustCompile(`(?m)^` + name + `_sha256=([0-9a-f]{64})$`).FindSubmatch(version)
		if m == nil {
			t.Fatalf("no %s_sha256= line in static/vendor/VERSION", name)
		}
		lib, err := static.ReadFile("static/vendor/hash-wasm-" + name + ".wasm")
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(lib); hex.EncodeToString(sum[:]) != string(m[1]) {
			t.Errorf("embedded hash-wasm %s module has sha256 %x, VERSION records %s", name, sum, m[1])
		}
	}
}
