package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
)

// The two benchmarks below are one comparison: the cost of rejecting a
// throttled login, end to end over loopback HTTP, against a no-op net/http
// handler served and called the same way. Run them together and report the
// ratio of their ns/op (docs/benchmarks.md):
//
//	go test ./internal/server -run '^$' -bench 'Rejected|Noop' -count 5

const benchBody = "grant_type=password&username=victim%40example.com&password=hunter2hunter2"

// benchPost posts benchBody to url as fast as RunParallel allows and fails
// the benchmark unless every answer has status want: a refusal benchmark
// that was quietly answered 400 or 200 would measure something else.
func benchPost(b *testing.B, url string, want int) {
	b.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(benchBody))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != want {
				b.Errorf("status %d, want %d", res.StatusCode, want)
				return
			}
		}
	})
}

// BenchmarkNoopHandler is the baseline: a handler that reads the body and
// answers 429 with a short JSON body.
func BenchmarkNoopHandler(b *testing.B) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"error":"too_many_attempts"}`)
	}))
	defer ts.Close()
	benchPost(b, ts.URL+"/token", http.StatusTooManyRequests)
}

// BenchmarkTokenRejected measures POST /token when the guard denies: strict
// form parsing, username normalisation, client address, one guard store
// call over the 7 keys of an untrusted attempt, the 429 with its headers.
// No lookup, no hash.
func BenchmarkTokenRejected(b *testing.B) {
	one := limit.Limit{Burst: 1, Period: time.Hour}
	e := newTestEnv(b, withPolicy(guard.Policy{
		IP: one, IPSoft: one, Subnet: one, Subnet48: one, User: one, UserHard: one, UserIP: one, Device: one, Network: one, Success: one,
		Difficulty: 1, AttackDifficulty: 1,
	}))
	e.login("victim@example.com", "x") // spends the one unit
	if res := e.postToken(benchBody); res.status != http.StatusTooManyRequests {
		b.Fatalf("setup: status %d", res.status)
	}
	benchPost(b, e.ts.URL+"/token", http.StatusTooManyRequests)
}
