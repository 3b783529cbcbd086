package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/store/storetest"
)

// benchReplica runs `credshield serve` in-process for a benchmark and
// returns its base URL; it stops at cleanup. (startServe takes a
// *testing.T.)
func benchReplica(tb testing.TB, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		all := append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)
		done <- run(ctx, all, strings.NewReader(""), pw, io.Discard, func(string) (string, bool) { return "", false })
		pw.Close()
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			tb.Error("serve did not stop")
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		tb.Fatalf("serve printed no startup line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := regexp.MustCompile(`on (127\.0\.0\.1:\d+)`).FindStringSubmatch(line)
	if m == nil {
		tb.Fatalf("no address in %q", line)
	}
	return "http://" + m[1]
}

// BenchmarkReplicaLogins measures successful logins per second through one
// replica and through two, on one PostgreSQL and one Redis, in the same
// run: every replica has one hasher worker and cheap argon2id (64 KiB,
// t=1), so the numbers show what sharing state through PostgreSQL and
// Redis costs when a second replica adds a second hasher, not argon2id.
// Clients come from many addresses through the trusted-proxy header and
// log in as 32 users with their right passwords, so no budget refuses
// them. Not part of CI (benchmarks run only with -bench):
//
//	go test ./cmd/credshield -run '^$' -bench ReplicaLogins -benchtime 2000x
func BenchmarkReplicaLogins(b *testing.B) {
	redisU := os.Getenv("CREDSHIELD_TEST_REDIS")
	if redisU == "" {
		b.Skip("CREDSHIELD_TEST_REDIS not set: the replica benchmark needs Redis")
	}
	dsn := storetest.PostgresDSN(b)
	const users = 32
	for i := range users {
		addUser(b, dsn, fmt.Sprintf("user%02d", i), "a long enough password")
	}
	kek := testKEKFile(b)
	shared := append([]string{"--db", dsn, "--kek-file", kek, "--guard-store", redisU, "--redis-prefix", randomPrefix(b),
		"--replicas", "2", "--trusted-proxies", "127.0.0.1/32", "--issuer", "http://127.0.0.1",
		"--hasher-workers", "1", "--hasher-queue", "256", "--attack-min-failures", "1000000"}, cheapHash...)
	replicas := []string{
		benchReplica(b, append([]string{"--data-dir", b.TempDir()}, shared...)...),
		benchReplica(b, append([]string{"--data-dir", b.TempDir()}, shared...)...),
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128}}
	b.Cleanup(client.CloseIdleConnections)

	var seq atomic.Int64 // spreads clients over addresses and users across sub-benchmarks
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			var failed atomic.Int64
			var firstErr atomic.Value
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					form := url.Values{"username": {fmt.Sprintf("user%02d", i%users)}, "password": {"a long enough password"}}
					req, _ := http.NewRequest(http.MethodPost, replicas[int(i)%n]+"/token", strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
					res, err := client.Do(req)
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", res.StatusCode, body))
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
			if f := failed.Load(); f > 0 {
				b.Errorf("%d of %d logins failed; first: %v", f, b.N, firstErr.Load())
			}
			// A replica that fell back to local budgets (Redis too slow
			// to answer) would make the numbers meaningless.
			for _, base := range replicas {
				if _, st := readyStatus(b, base); st != "ready" {
					b.Errorf("%s/readyz says %q after the run", base, st)
				}
			}
		})
	}
}
