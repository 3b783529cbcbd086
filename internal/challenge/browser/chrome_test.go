package browser_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/argon2"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/challenge/browser"
	"github.com/credshield/credshield/internal/challenge/browser/browsertest"
)

var clientKey = []byte("ip:127.0.0.1|user:alice")

// solverPage serves the assets and an empty page beside them on loopback
// (a secure context, as Web Crypto needs) and opens that page in a fresh
// headless Chromium with credshield.js imported as window.CS.
func solverPage(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	return solverPageWith(t, timeout, func(h http.Handler) http.Handler { return h })
}

// solverPageWith is solverPage with the server's handler wrapped.
func solverPageWith(t testing.TB, timeout time.Duration, wrap func(http.Handler) http.Handler) context.Context {
	t.Helper()
	h, err := browser.New(browser.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>solver</title>")
	})
	srv := httptest.NewServer(wrap(h.Wrap(page)))
	t.Cleanup(srv.Close)
	ctx := browsertest.New(t, timeout)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`import("`+browser.DefaultPrefix+`credshield.js").then((m) => { window.CS = m; return true; })`, chromedp.EvalAwaitPromise))
	if err != nil || !ok {
		t.Fatalf("load credshield.js: %v", err)
	}
	return ctx
}

// solved is what the page reports for one challenge.
type solved struct {
	Solution    string  `json:"solution"`
	Evaluations int     `json:"evaluations"`
	Ms          float64 `json:"ms"`
}

// solveInBrowser solves an encoded challenge with credshield.js in the
// page, with the given number of workers.
func solveInBrowser(ctx context.Context, c challenge.Challenge, workers int) (solved, error) {
	js := fmt.Sprintf(`(async () => {
		const cs = new window.CS.Credshield({ workers: %d });
		let evaluations = 0;
		cs.addEventListener("solved", (e) => { evaluations = e.detail.evaluations; });
		const t0 = performance.now();
		const solution = await cs.solve({ token: %q, difficulty: %d });
		return { solution, evaluations, ms: performance.now() - t0 };
	})()`, workers, c.Token, c.Difficulty)
	return chromedp.Run(ctx, chromedp.Evaluate[solved](js, chromedp.EvalAwaitPromise))
}

func newIssuer(t testing.TB) *challenge.Issuer {
	t.Helper()
	r, err := challenge.NewMemoryReplay(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	is, err := challenge.NewIssuer(bytes.Repeat([]byte{7}, 32), challenge.Config{TTL: time.Hour}, r)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// TestBrowserSolutionsVerify: what credshield.js finds in Chromium, on one
// worker and on several, the Go issuer accepts; the byte layout of the
// package doc and the JavaScript agree.
func TestBrowserSolutionsVerify(t *testing.T) {
	ctx := solverPage(t, 60*time.Second)
	is := newIssuer(t)
	for _, workers := range []int{1, 2} {
		t.Run(strconv.Itoa(workers)+" workers", func(t *testing.T) {
			now := time.Now()
			c, err := is.Issue(context.Background(), now, clientKey, 5)
			if err != nil {
				t.Fatal(err)
			}
			s, err := solveInBrowser(ctx, c, workers)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := is.Verify(context.Background(), now, clientKey, c.Token, s.Solution); err != nil {
				t.Fatalf("the browser's solution %q (%d evaluations) is refused: %v", s.Solution, s.Evaluations, err)
			}
			if workers == 1 {
				// One worker tries 0, 1, 2, ...: the smallest solution, as
				// the Go solver with one worker finds it.
				want, evals, err := challenge.Solve(context.Background(), c.Token, 1)
				if err != nil || s.Solution != want || s.Evaluations != evals {
					t.Errorf("browser %q in %d evaluations, Go %q in %d (%v)", s.Solution, s.Evaluations, want, evals, err)
				}
			}
		})
	}
}

// argon2idPage opens the solver page with argon2id.js loaded as a
// script and returns the addresses of the two modules.
func argon2idPage(t *testing.T) (ctx context.Context, argon2Wasm, blakeWasm string) {
	t.Helper()
	ctx = solverPage(t, 60*time.Second)
	h, err := browser.New(browser.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	asset := func(path string) []byte {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, browser.DefaultPrefix+path, nil))
		return rec.Body.Bytes()
	}
	name := func(body []byte, pattern string) string {
		m := regexp.MustCompile(pattern).Find(body)
		if m == nil {
			t.Fatalf("no %s in %.200s", pattern, body)
		}
		return browser.DefaultPrefix + string(m)
	}
	solver := asset(name(asset("credshield.js"), `solver\.[0-9a-f]{16}\.js`)[len(browser.DefaultPrefix):])
	script := name(solver, `argon2id\.[0-9a-f]{16}\.js`)
	argon2Wasm, blakeWasm = name(solver, `hash-wasm-argon2\.[0-9a-f]{16}\.wasm`), name(solver, `hash-wasm-blake2b\.[0-9a-f]{16}\.wasm`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise((resolve, reject) => {
		const s = document.createElement("script");
		s.src = `+strconv.Quote(script)+`;
		s.onload = () => resolve(true);
		s.onerror = reject;
		document.head.append(s);
	})`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("load argon2id.js: %v", err)
	}

	return ctx, argon2Wasm, blakeWasm
}

// TestArgon2idMatchesGo: argon2id.js over hash-wasm's modules gives
// x/crypto/argon2's output for parameters beyond the challenge's (several
// lanes and passes, memory not a multiple of the lanes, tags shorter and
// longer than one BLAKE2b digest), and evaluations reusing one instance do
// not leak into each other.
func TestArgon2idMatchesGo(t *testing.T) {
	ctx, argon2Wasm, blakeWasm := argon2idPage(t)
	passwords := [][]byte{[]byte("password"), bytes.Repeat([]byte{0xa5}, 24), []byte("password")}
	for _, tt := range []struct {
		memory, time uint32
		threads      uint8
		salt         []byte
		keyLen       uint32
	}{
		{1024, 1, 1, bytes.Repeat([]byte{1}, 32), 32}, // the challenge's
		{64, 3, 4, []byte("somesaltsomesalt"), 32},
		{8, 1, 1, []byte("saltsalt"), 4},
		{256, 2, 2, bytes.Repeat([]byte{2}, 32), 64},
		{100, 1, 3, bytes.Repeat([]byte{3}, 16), 100},
		{33, 2, 1, bytes.Repeat([]byte{4}, 16), 65},
		{64, 1, 1, bytes.Repeat([]byte{5}, 16), 96},    // H''s last block exactly 64 bytes
		{2048, 1, 16, bytes.Repeat([]byte{6}, 32), 32}, // past the module's first 512 KiB, the most lanes
	} {
		t.Run(fmt.Sprintf("m=%d,t=%d,p=%d,len=%d", tt.memory, tt.time, tt.threads, tt.keyLen), func(t *testing.T) {
			js := fmt.Sprintf(`(async () => {
				const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
				const bytes = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
				const hash = await createArgon2id(%q, %q, { salt: bytes(%q), memoryKiB: %d, time: %d, threads: %d, hashLength: %d });
				return %s.map((p) => hex(hash(bytes(p))));
			})()`, argon2Wasm, blakeWasm, base64.StdEncoding.EncodeToString(tt.salt), tt.memory, tt.time, tt.threads, tt.keyLen,
				func() string {
					var q []string
					for _, p := range passwords {
						q = append(q, strconv.Quote(base64.StdEncoding.EncodeToString(p)))
					}
					return "[" + strings.Join(q, ",") + "]"
				}())
			got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(passwords) {
				t.Fatalf("%d tags for %d passwords", len(got), len(passwords))
			}
			for i, p := range passwords {
				if want := hex.EncodeToString(argon2.IDKey(p, tt.salt, tt.time, tt.memory, tt.threads, tt.keyLen)); got[i] != want {
					t.Errorf("password %d: browser %s, x/crypto/argon2 %s", i, got[i], want)
				}
			}
		})
	}
}

// TestArgon2idRefusesBadParameters: parameters outside RFC 9106's bounds
// are an error, not a wrong hash.
func TestArgon2idRefusesBadParameters(t *testing.T) {
	ctx, argon2Wasm, blakeWasm := argon2idPage(t)
	for _, params := range []string{
		"memoryKiB: 8, time: 1, threads: 2, hashLength: 32", // m < 8p
		"memoryKiB: 64, time: 0, threads: 1, hashLength: 32",
		"memoryKiB: 64, time: 1, threads: 0, hashLength: 32",
		"memoryKiB: 64, time: 1, threads: 1, hashLength: 3",
	} {
		msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`createArgon2id(%q, %q, { salt: new Uint8Array(16), %s }).then(() => "accepted", (e) => e.message)`, argon2Wasm, blakeWasm, params), chromedp.EvalAwaitPromise))
		if err != nil || msg != "argon2id parameters out of range" {
			t.Errorf("{%s}: %q %v", params, msg, err)
		}
	}
}

// TestBrowserRefusesBadToken: a malformed token is an error event, not a
// hang.
func TestBrowserRefusesBadToken(t *testing.T) {
	ctx := solverPage(t, 30*time.Second)
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`new window.CS.Credshield({ workers: 1 }).solve({ token: "AAAA", difficulty: 1 }).then(() => "solved", (e) => e.name + ": " + e.message)`, chromedp.EvalAwaitPromise))
	if err != nil || msg != "ChallengeError: challenge solver: malformed challenge token" {
		t.Errorf("bad token: %q %v", msg, err)
	}
}

// TestBrowserReportsUnloadableSolver: when the solver's WebAssembly
// cannot be loaded (here a proxy answers 404 for it), solving fails with
// an error that says so, rather than hanging.
func TestBrowserReportsUnloadableSolver(t *testing.T) {
	ctx := solverPageWith(t, 30*time.Second, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, ".wasm") {
				http.NotFound(w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c, err := newIssuer(t).Issue(context.Background(), time.Now(), clientKey, 1)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`new window.CS.Credshield({ workers: 1 }).solve({ token: %q, difficulty: 1 }).then(() => "solved", (e) => e.name + ": " + e.message)`, c.Token), chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(msg, "ChallengeError: challenge solver: cannot load ") || !strings.Contains(msg, "HTTP 404") {
		t.Errorf("solving without the WebAssembly: %q %v", msg, err)
	}
}

// TestWorkersStopWhenAbandoned: once a challenge is given up (or
// solved), its workers stop computing at once. Chromium stops a
// terminated worker only between tasks, so a solver that never yields
// kept both cores busy afterwards: 2.0 s of CPU in the second after
// giving up, in this test, against 0.4 s (the new browser's own start-up
// work) for one that yields.
func TestWorkersStopWhenAbandoned(t *testing.T) {
	ctx := solverPage(t, 60*time.Second)
	// Difficulty 32: no solution in the time the test runs.
	c, err := newIssuer(t).Issue(context.Background(), time.Now(), clientKey, challenge.MaxDifficulty)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(async () => {
		const abort = new AbortController();
		const cs = new window.CS.Credshield({ workers: 2 });
		let progress = 0;
		cs.addEventListener("progress", () => progress++);
		setTimeout(() => abort.abort(), 500);
		const outcome = await cs.solve({ token: %q, difficulty: %d }, { signal: abort.signal }).then(() => "solved", (e) => e.name);
		return outcome + " after " + progress + " progress events";
	})()`, c.Token, c.Difficulty), chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(msg, "AbortError after ") || strings.HasPrefix(msg, "AbortError after 0 ") {
		t.Fatalf("solving, then giving up: %q %v; want an AbortError after some progress", msg, err)
	}
	before, err := descendantsCPU()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot read the browser's CPU time: %v", err)
		}
		t.Skipf("cannot read the browser's CPU time (Linux's /proc): %v", err)
	}
	time.Sleep(time.Second)
	after, err := descendantsCPU()
	if err != nil {
		t.Fatal(err)
	}
	if used := after - before; used > time.Second {
		t.Errorf("the browser used %v of CPU in the second after the challenge was given up; want its workers stopped", used)
	}
}

// descendantsCPU sums the CPU time (user and system) of this process's
// descendants, the browser's processes, from /proc (Linux).
func descendantsCPU() (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	parent := make(map[int]int)
	ticks := make(map[int]int64)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone since the listing
		}
		// The command name may hold spaces and parentheses: the fields
		// after it start after the last ')'.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		parent[pid], ticks[pid] = ppid, utime+stime
	}
	self := os.Getpid()
	var sum int64
	for pid, tk := range ticks {
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == self {
				sum += tk
				break
			}
		}
	}
	// USER_HZ is 100 on every Linux that Go supports.
	return time.Duration(sum) * 10 * time.Millisecond, nil
}

// TestFetchReturnsLookalikesUnsolved: credshield.js solves only a
// challenge credshield issued; an answer that merely has a field called
// "challenge" is returned to the caller as it came.
func TestFetchReturnsLookalikesUnsolved(t *testing.T) {
	token := strings.Repeat("A", 118) // well formed, for the wrong status
	answers := map[string]struct {
		status int
		body   string
	}{
		"/a": {http.StatusUnauthorized, `{"challenge":"x"}`},
		"/b": {http.StatusBadRequest, `{"error":"challenge_required","challenge":{"token":"short","difficulty":3}}`},
		"/c": {http.StatusForbidden, `{"error":{"details":{"challenge":{"token":"` + strings.Repeat("!", 118) + `","difficulty":3}}}}`},
		"/d": {http.StatusInternalServerError, `{"error":"challenge_required","challenge":{"token":"` + token + `","difficulty":3}}`},
		"/e": {http.StatusBadRequest, `{"error":"challenge_required","challenge":{"token":"` + token + `","difficulty":"3"}}`},
	}
	ctx := solverPageWith(t, 30*time.Second, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a, ok := answers[r.URL.Path]; ok {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(a.status)
				fmt.Fprint(w, a.body)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	for path, a := range answers {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(async () => {
			const cs = new window.CS.Credshield({ workers: 1 });
			let solved = 0;
			cs.addEventListener("solved", () => solved++);
			const res = await cs.fetch(%q, { method: "POST", body: "x=1" });
			return res.status + " " + solved + " " + await res.text();
		})()`, path), chromedp.EvalAwaitPromise))
		if want := fmt.Sprintf("%d 0 %s", a.status, a.body); err != nil || got != want {
			t.Errorf("%s: %q %v; want %q", path, got, err, want)
		}
	}
}

// TestSolverToleratesWasmContentType: a proxy in front that serves the
// WebAssembly as application/octet-stream breaks nothing.
func TestSolverToleratesWasmContentType(t *testing.T) {
	ctx := solverPageWith(t, 30*time.Second, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, ".wasm") {
				w = retyped{w}
			}
			h.ServeHTTP(w, r)
		})
	})
	is := newIssuer(t)
	now := time.Now()
	c, err := is.Issue(context.Background(), now, clientKey, 3)
	if err != nil {
		t.Fatal(err)
	}
	s, err := solveInBrowser(ctx, c, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := is.Verify(context.Background(), now, clientKey, c.Token, s.Solution); err != nil {
		t.Errorf("solution %q refused: %v", s.Solution, err)
	}
}

// retyped answers with Content-Type application/octet-stream.
type retyped struct{ http.ResponseWriter }

func (w retyped) WriteHeader(code int) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.ResponseWriter.WriteHeader(code)
}

// TestMeasure measures the solver in headless Chromium against the native
// Go solver in the same run: per argon2id evaluation and per challenge.
// It runs only when asked, since it takes minutes and wants a quiet
// machine:
//
//	CREDSHIELD_MEASURE=1 go test -count=1 -run TestMeasure -v -timeout 30m ./internal/challenge/browser/
//
// CREDSHIELD_MEASURE_DIFFICULTY (default 10), CREDSHIELD_MEASURE_CHALLENGES
// (default 40) and CREDSHIELD_MEASURE_WORKERS (default 2) change what is
// measured.
func TestMeasure(t *testing.T) {
	if os.Getenv("CREDSHIELD_MEASURE") == "" {
		t.Skip("set CREDSHIELD_MEASURE=1 to measure the browser solver (minutes)")
	}
	env := func(name string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
			return v
		}
		return def
	}
	difficulty := env("CREDSHIELD_MEASURE_DIFFICULTY", 10)
	n := env("CREDSHIELD_MEASURE_CHALLENGES", 40)
	workers := env("CREDSHIELD_MEASURE_WORKERS", 2)
	ctx := solverPage(t, 60*time.Minute)
	is := newIssuer(t)

	// Per evaluation: one worker, difficulty-8 challenges, until 2000
	// evaluations, for each solver.
	var bEvals, gEvals int
	var bTime, gTime time.Duration
	for bEvals < 2000 {
		c, _ := is.Issue(context.Background(), time.Now(), clientKey, 8)
		s, err := solveInBrowser(ctx, c, 1)
		if err != nil {
			t.Fatal(err)
		}
		bEvals += s.Evaluations
		bTime += time.Duration(s.Ms * float64(time.Millisecond))
		start := time.Now()
		_, e, err := challenge.Solve(context.Background(), c.Token, 1)
		if err != nil {
			t.Fatal(err)
		}
		gTime += time.Since(start)
		gEvals += e
	}
	t.Logf("per argon2id evaluation (m=%d KiB, t=%d, p=%d), one worker: Chromium %.2f ms (%d evaluations), native Go %.2f ms (%d)",
		challenge.DefaultMemoryKiB, challenge.DefaultTime, challenge.DefaultThreads,
		bTime.Seconds()*1000/float64(bEvals), bEvals, gTime.Seconds()*1000/float64(gEvals), gEvals)

	// Per challenge at the difficulty, both with the same workers, on the
	// same challenges (so both need about as many evaluations), browser
	// and native in turn so that load drifting over the run hits both.
	var bMs, gMs, ratio []float64
	var bAll, gAll, bN, gN float64
	for range n {
		c, _ := is.Issue(context.Background(), time.Now(), clientKey, difficulty)
		s, err := solveInBrowser(ctx, c, workers)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, e, err := challenge.Solve(context.Background(), c.Token, workers)
		if err != nil {
			t.Fatal(err)
		}
		g := float64(time.Since(start).Microseconds()) / 1000
		bMs, gMs, ratio = append(bMs, s.Ms), append(gMs, g), append(ratio, s.Ms/g)
		bAll, bN, gAll, gN = bAll+s.Ms, bN+float64(s.Evaluations), gAll+g, gN+float64(e)
	}
	slices.Sort(ratio)
	t.Logf("per challenge at difficulty %d, %d challenges, %d workers: Chromium %s; native Go %s", difficulty, n, workers, summary(bMs), summary(gMs))
	t.Logf("per evaluation over those challenges, wall time × workers: Chromium %.2f ms, native Go %.2f ms; median ratio per challenge %.2f×",
		bAll*float64(workers)/bN, gAll*float64(workers)/gN, ratio[len(ratio)/2])
}

// summary is the median, p90 and maximum of ms, in seconds.
func summary(ms []float64) string {
	s := slices.Clone(ms)
	slices.Sort(s)
	q := func(p float64) float64 { return s[int(p*float64(len(s)-1)+0.5)] / 1000 }
	return fmt.Sprintf("median %.2f s, p90 %.2f s, max %.2f s", q(0.5), q(0.9), s[len(s)-1]/1000)
}

// TestCompareGoWasm times argon2id at the challenge's parameters in a Web
// Worker in Chromium, one evaluation per call and ten passes per call (so
// the fixed cost of a call shows), for the candidates: hash-wasm's
// modules as the solver drives them (argon2id.js, one instance reused),
// hash-wasm's own argon2id() (new instances and memory on every call) and
// x/crypto/argon2 compiled to WebAssembly (testdata/gowasm). Run it with
//
//	CREDSHIELD_MEASURE=1 go test -count=1 -run TestCompareGoWasm -v ./internal/challenge/browser/
//
// hash-wasm's own argon2id() needs its npm build, which the project does
// not ship: it is measured when CREDSHIELD_HASH_WASM_UMD names
// hash-wasm's dist/argon2.umd.min.js (npm pack hash-wasm@4.13.0).
func TestCompareGoWasm(t *testing.T) {
	if os.Getenv("CREDSHIELD_MEASURE") == "" {
		t.Skip("set CREDSHIELD_MEASURE=1 to compare Go compiled to WebAssembly with hash-wasm")
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "a.wasm"), "./testdata/gowasm")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"/wasm_exec.js": filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"),
		"/a.wasm":       filepath.Join(dir, "a.wasm"),
		"/argon2id.js":  "static/argon2id.js",
		"/argon2.wasm":  "static/vendor/hash-wasm-argon2.wasm",
		"/blake2b.wasm": "static/vendor/hash-wasm-blake2b.wasm",
	}
	// Each worker posts one line: t = 1 and t = 10, milliseconds per call.
	workers := map[string]string{
		"/go.js": `importScripts("wasm_exec.js"); const go = new Go();
			WebAssembly.instantiateStreaming(fetch("a.wasm"), go.importObject).then((r) => go.run(r.instance));`,
		"/reused.js": `importScripts("argon2id.js");
			(async () => {
				const salt = new Uint8Array(32), pw = new Uint8Array(24);
				const opts = (t) => ({ salt, memoryKiB: 1024, time: t, threads: 1, hashLength: 32 });
				const one = await createArgon2id("argon2.wasm", "blake2b.wasm", opts(1));
				const ten = await createArgon2id("argon2.wasm", "blake2b.wasm", opts(10));
				for (let i = 0; i < 20; i++) { one(pw); if (i < 3) ten(pw); }
				let n = 200, t0 = performance.now();
				for (let i = 0; i < n; i++) { pw[23] = i; one(pw); }
				const ms = (performance.now() - t0) / n;
				n = 20; t0 = performance.now();
				for (let i = 0; i < n; i++) ten(pw);
				postMessage("hash-wasm modules, one instance reused (the solver): t=1 " + ms.toFixed(2) + " ms per call, t=10 " + ((performance.now() - t0) / n).toFixed(2) + " ms per call");
			})();`,
	}
	order := []string{"reused.js", "go.js"}
	if umd := os.Getenv("CREDSHIELD_HASH_WASM_UMD"); umd != "" {
		files["/argon2.umd.js"] = umd
		workers["/hash-wasm.js"] = `importScripts("argon2.umd.js");
			(async () => {
				const salt = new Uint8Array(32), pw = new Uint8Array(24);
				const opts = (t) => ({ password: pw, salt, parallelism: 1, iterations: t, memorySize: 1024, hashLength: 32, outputType: "binary" });
				for (let i = 0; i < 20; i++) await hashwasm.argon2id(opts(1));
				let n = 200, t0 = performance.now();
				for (let i = 0; i < n; i++) { pw[23] = i; await hashwasm.argon2id(opts(1)); }
				const one = (performance.now() - t0) / n;
				n = 20; t0 = performance.now();
				for (let i = 0; i < n; i++) await hashwasm.argon2id(opts(10));
				postMessage("hash-wasm's argon2id(), new instances every call: t=1 " + one.toFixed(2) + " ms per call, t=10 " + ((performance.now() - t0) / n).toFixed(2) + " ms per call");
			})();`
		order = append(order, "hash-wasm.js")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if js, ok := workers[r.URL.Path]; ok {
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, js)
			return
		}
		if f, ok := files[r.URL.Path]; ok {
			if strings.HasSuffix(f, ".wasm") {
				w.Header().Set("Content-Type", "application/wasm")
			}
			http.ServeFile(w, r, f)
			return
		}
		fmt.Fprint(w, "<!doctype html><title>compare</title>")
	}))
	t.Cleanup(srv.Close)
	ctx := browsertest.New(t, 10*time.Minute)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	for _, w := range order {
		msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`new Promise((resolve) => { const w = new Worker("`+w+`"); w.onmessage = (e) => { w.terminate(); resolve(e.data); }; w.onerror = (e) => resolve("error: " + e.message); })`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		t.Log(msg)
	}
	if info, err := os.Stat(filepath.Join(dir, "a.wasm")); err == nil {
		a, _ := os.Stat(files["/argon2.wasm"])
		b, _ := os.Stat(files["/blake2b.wasm"])
		js, _ := os.Stat(files["/argon2id.js"])
		t.Logf("sizes: Go WebAssembly %d bytes; hash-wasm's modules %d + %d bytes and argon2id.js %d bytes", info.Size(), a.Size(), b.Size(), js.Size())
	}
}
