// Package browser serves what a web page needs to pass credshield's
// proof-of-work challenge (package challenge) without any Go: credshield.js,
// an ES module that wraps fetch for a login endpoint, the Web Worker that
// solves a challenge, and the argon2id it runs: hash-wasm's BLAKE2b and
// argon2 WebAssembly modules (MIT licence; version and SHA-256 sums in
// static/vendor/VERSION, re-fetched and checked by
// scripts/fetch-hash-wasm.sh), driven by argon2id.js, which instantiates
// them once per worker and reuses them for every evaluation.
//
// Everything lives under one URL prefix, DefaultPrefix unless configured,
// so that `credshield protect` takes nothing else from the app it guards.
// credshield.js and credshield.d.ts keep stable names and are revalidated
// on every use (no-cache with an ETag); the files they load are named for
// a hash of their content and cached for a year as immutable, so a new
// release can never be mixed with an old worker in a browser's cache.
//
// hash-wasm's modules were chosen over Go compiled to WebAssembly: reused
// for every evaluation they take a third to two thirds of the time in
// Chromium, and with argon2id.js they ship as 20 KB instead of 2.7 MB,
// which a new browser must download before its first challenge
// (docs/benchmarks.md).
package browser

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"
)

// DefaultPrefix is where the assets are served unless configured
// otherwise: a .well-known path (RFC 8615), which an app behind protect
// is unlikely to use itself.
const DefaultPrefix = "/.well-known/credshield/"

//go:embed static/credshield.js static/credshield.d.ts static/solver.js static/argon2id.js static/vendor/hash-wasm-argon2.wasm static/vendor/hash-wasm-blake2b.wasm
var static embed.FS

// Cache-Control values: stable names are revalidated on every use,
// content-hashed names never change.
const (
	cacheStable    = "no-cache"
	cacheImmutable = "public, max-age=31536000, immutable"
)

// asset is one file as served.
type asset struct {
	body         []byte
	contentType  string
	cacheControl string
	etag         string
}

// Handler serves the assets under its prefix. Build it with New; the zero
// value is not usable. It is safe for concurrent use: nothing changes
// after New.
type Handler struct {
	prefix string
	files  map[string]asset // name under the prefix -> file
}

// New builds the handler for prefix, which must be an absolute path that
// ends in a slash ("/.well-known/credshield/"). It names the versioned
// files by the SHA-256 of their content and writes those names into the
// files that load them.
func New(prefix string) (*Handler, error) {
	if err := CheckPrefix(prefix); err != nil {
		return nil, fmt.Errorf("browser assets prefix %w", err)
	}
	src := make(map[string][]byte)
	for _, name := range []string{"vendor/hash-wasm-argon2.wasm", "vendor/hash-wasm-blake2b.wasm", "argon2id.js", "solver.js", "credshield.js", "credshield.d.ts"} {
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			return nil, fmt.Errorf("browser assets: %w", err)
		}
		src[name] = b
	}
	h := &Handler{prefix: prefix, files: make(map[string]asset)}
	solver := src["solver.js"]
	for _, v := range []struct{ placeholder, name string }{
		{"__ARGON2ID__", h.addVersioned("argon2id", ".js", src["argon2id.js"])},
		{"__ARGON2_WASM__", h.addVersioned("hash-wasm-argon2", ".wasm", src["vendor/hash-wasm-argon2.wasm"])},
		{"__BLAKE2B_WASM__", h.addVersioned("hash-wasm-blake2b", ".wasm", src["vendor/hash-wasm-blake2b.wasm"])},
	} {
		var err error
		if solver, err = substitute(solver, v.placeholder, v.name); err != nil {
			return nil, err
		}
	}
	solverName := h.addVersioned("solver", ".js", solver)
	js, err := substitute(src["credshield.js"], "__WORKER__", solverName)
	if err != nil {
		return nil, err
	}
	h.add("credshield.js", js, "text/javascript; charset=utf-8", cacheStable)
	h.add("credshield.d.ts", src["credshield.d.ts"], "text/plain; charset=utf-8", cacheStable)
	return h, nil
}

// CheckPrefix says whether prefix can hold the assets: an absolute,
// clean URL path ending in a slash, other than "/" itself (which would
// take every path from serve or from the app behind protect).
func CheckPrefix(prefix string) error {
	if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") || prefix == "/" ||
		path.Clean(prefix)+"/" != prefix || strings.ContainsAny(prefix, "?#%\\ ") {
		return fmt.Errorf("%q: want a clean absolute path that ends in /, such as %s", prefix, DefaultPrefix)
	}
	return nil
}

// substitute replaces the one placeholder in b, failing if it is missing
// (an edited file that no longer loads its dependency must not ship).
func substitute(b []byte, placeholder, value string) ([]byte, error) {
	if bytes.Count(b, []byte(placeholder)) != 1 {
		return nil, errors.New("browser assets: placeholder " + placeholder + " not found exactly once")
	}
	return bytes.Replace(b, []byte(placeholder), []byte(value), 1), nil
}

// addVersioned adds a JavaScript or WebAssembly file under
// base.<hash>ext and returns that name.
func (h *Handler) addVersioned(base, ext string, body []byte) string {
	sum := sha256.Sum256(body)
	name := base + "." + hex.EncodeToString(sum[:8]) + ext
	contentType := "text/javascript; charset=utf-8"
	if ext == ".wasm" {
		// The type WebAssembly modules are served with (browsers that
		// compile while downloading accept no other).
		contentType = "application/wasm"
	}
	h.add(name, body, contentType, cacheImmutable)
	return name
}

func (h *Handler) add(name string, body []byte, contentType, cacheControl string) {
	sum := sha256.Sum256(body)
	h.files[name] = asset{body: body, contentType: contentType, cacheControl: cacheControl,
		etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// Prefix returns the URL path the assets are served under.
func (h *Handler) Prefix() string { return h.prefix }

// Wrap returns a handler that serves the assets for paths under the
// prefix and passes every other request to next unchanged.
func (h *Handler) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, h.prefix) {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP serves one asset; anything else under the prefix is a JSON 404
// (or 405), like every other answer of the service.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	// A worker runs under the CSP of its own script's response: it may
	// load scripts from here, fetch its WebAssembly modules from here and
	// compile them, nothing else.
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; frame-ancestors 'none'")
	a, ok := h.files[strings.TrimPrefix(r.URL.Path, h.prefix)]
	if !ok || !strings.HasPrefix(r.URL.Path, h.prefix) {
		writeError(w, http.StatusNotFound, "not_found", "no such file")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed; use GET, HEAD")
		return
	}
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", a.cacheControl)
	hd.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// writeError writes an RFC 6749-shaped error body.
func writeError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"error\":%q,\"error_description\":%q}\n", code, desc)
}
