package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/redisstore/redistest"
)

// startTestRedis starts a redis-server the test owns (redistest): it can
// kill it mid-burst and start it again on the same port.
func startTestRedis(t testing.TB) *redistest.Server {
	t.Helper()
	return redistest.Start(t)
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// randomPrefix is a Redis key prefix of the test's own.
func randomPrefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "credshield-test-" + hex.EncodeToString(b[:]) + ":"
}

// tcpForwarder relays loopback connections to a target (PostgreSQL) until
// the test cuts it: cut closes the listener and every open connection, as
// a network partition seen from the client would; restore listens on the
// same address again.
type tcpForwarder struct {
	t      testing.TB
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startForwarder forwards a fresh loopback port to target.
func startForwarder(t testing.TB, target string) *tcpForwarder {
	t.Helper()
	f := &tcpForwarder{t: t, target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	f.serve(ln)
	t.Cleanup(func() { f.cut(); f.wg.Wait() })
	return f
}

func (f *tcpForwarder) serve(ln net.Listener) {
	f.mu.Lock()
	f.ln = ln
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", f.target)
			if err != nil {
				c.Close()
				continue
			}
			if !f.track(c, up) {
				return
			}
			f.wg.Add(2)
			go f.pipe(c, up)
			go f.pipe(up, c)
		}
	}()
}

// track registers both ends of a relayed connection, unless the
// forwarder was cut meanwhile (then it closes them).
func (f *tcpForwarder) track(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *tcpForwarder) pipe(dst, src net.Conn) {
	defer f.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// cut stops accepting and drops every relayed connection.
func (f *tcpForwarder) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		f.ln.Close()
		f.ln = nil
	}
	for c := range f.conns {
		c.Close()
	}
	clear(f.conns)
}

// restore listens on the same address again.
func (f *tcpForwarder) restore() {
	f.t.Helper()
	var ln net.Listener
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for ln, err = net.Listen("tcp", f.addr); err != nil; ln, err = net.Listen("tcp", f.addr) {
		if time.Now().After(deadline) {
			f.t.Fatalf("listen again on %s: %v", f.addr, err)
		}
		time.Sleep(10 * time.Millisecond) // waiting for the kernel to free the port
	}
	f.serve(ln)
}

// answer is what a test keeps of one HTTP response.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// str returns the string field name of a JSON body, or "".
func (a answer) str(name string) string {
	s, _ := a.body[name].(string)
	return s
}

// httpDo sends req and reads the whole answer.
func httpDo(t testing.TB, req *http.Request) answer {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode, header: res.Header, raw: string(b)}
	_ = json.Unmarshal(b, &a.body)
	return a
}

// postForm posts form to base+path as the trusted proxy relaying a client
// at ip ("" sends no forwarding header).
func postForm(t testing.TB, base, path, ip string, form url.Values) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	return httpDo(t, req)
}

// login runs the password grant from ip with an optional device token.
func login(t testing.TB, base, ip, user, pw, device string) answer {
	t.Helper()
	form := url.Values{"username": {user}, "password": {pw}}
	if device != "" {
		form.Set("device_token", device)
	}
	return postForm(t, base, "/token", ip, form)
}

// getWith sends GET base+path with an optional Bearer token.
func getWith(t testing.TB, base, path, bearer string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return httpDo(t, req)
}

// readyStatus is /readyz's HTTP status and "status" field.
func readyStatus(t testing.TB, base string) (int, string) {
	t.Helper()
	a := getWith(t, base, "/readyz", "")
	return a.status, a.str("status")
}

// waitReady polls base's /readyz until its status is want; Watch probes
// Redis every 5 s, so recovery is seen within that.
func waitReady(t testing.TB, base, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, st := readyStatus(t, base)
		if st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz: %d %q, want %q", base, code, st, want)
		}
		time.Sleep(100 * time.Millisecond) // polling a state that changes on its own schedule
	}
}

// metricValue scrapes name{labels...} (a sample line's prefix) from the
// Prometheus text at metricsURL and returns its value, 0 when absent.
func metricValue(t testing.TB, metricsURL, sample string) float64 {
	t.Helper()
	res, err := http.Get(metricsURL)
	if err != nil {
		t.Fatalf("scrape %s: %v", metricsURL, err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %q", sample, line)
			}
			return v
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return 0
}

// addUser adds name with pw to the database dsn through the CLI.
func addUser(t testing.TB, dsn, name, pw string) {
	t.Helper()
	var stderr strings.Builder
	args := append([]string{"user", "add", name, "--data-dir", t.TempDir(), "--db", dsn}, cheapHash...)
	if code := run(context.Background(), args, strings.NewReader(pw+"\n"), io.Discard, &stderr, func(string) (string, bool) { return "", false }); code != 0 {
		t.Fatalf("user add %s: %s", name, stderr.String())
	}
}
