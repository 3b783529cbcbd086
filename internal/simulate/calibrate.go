package simulate

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/credshield/credshield/internal/challenge"
)

// Calibration converts the attacker's work into CPU time, measured on this
// machine in the same run as the simulation it prices.
type Calibration struct {
	// NsPerEvaluation is one challenge evaluation (argon2id, 1 MiB, t=1).
	NsPerEvaluation float64 `json:"ns_per_evaluation"`
	// NsPerRequest is the client CPU one login request costs.
	NsPerRequest float64 `json:"ns_per_request"`
}

// cost is the CPU time requests and evaluations are worth.
func (c Calibration) cost(requests, evaluations int64) time.Duration {
	return time.Duration(float64(requests)*c.NsPerRequest + float64(evaluations)*c.NsPerEvaluation)
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// calibrateEvaluations solves challenges from a local issuer (the server's
// parameters: argon2id 1 MiB, t=1) until at least minEvals evaluations ran,
// and returns the process CPU per evaluation.
func calibrateEvaluations(ctx context.Context, minEvals int) (float64, error) {
	key := make([]byte, challenge.MinKeySize)
	_, _ = rand.Read(key)
	replay, err := challenge.NewMemoryReplay(1024)
	if err != nil {
		return 0, fmt.Errorf("calibrate: %w", err)
	}
	is, err := challenge.NewIssuer(key, challenge.Config{}, replay)
	if err != nil {
		return 0, fmt.Errorf("calibrate: %w", err)
	}
	evals := 0
	c0 := selfCPU()
	for evals < minEvals {
		c, err := is.Issue(ctx, time.Now(), []byte("calibrate"), 4)
		if err != nil {
			return 0, fmt.Errorf("calibrate: %w", err)
		}
		_, n, err := inProcess{}.solve(ctx, c.Token)
		evals += n
		if err != nil {
			return 0, fmt.Errorf("calibrate: %w", err)
		}
	}
	return float64(selfCPU()-c0) / float64(evals), nil
}

// calibrateRequests sends n malformed login requests (refused by the
// server at parsing, so the server does almost no work) and returns this
// process's CPU per request.
func calibrateRequests(ctx context.Context, c *client, n int) float64 {
	if c.profile != nil {
		return calibrateProfileRequests(ctx, c, n)
	}
	c0 := selfCPU()
	for i := range n {
		c.post(ctx, fmt.Sprintf("192.0.2.%d", i%250+1), "grant_type=password&password=calibrate")
	}
	return float64(selfCPU()-c0) / float64(n)
}

// calibrateProfileRequests measures the client CPU of n logins in the
// profile's shape against a server of its own on loopback that answers
// at once: a service may delay every failure (Authelia waits out about a
// second), and the client's CPU per login does not depend on the answer.
func calibrateProfileRequests(ctx context.Context, c *client, n int) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet { // a flow, for profiles that create one first
			_, _ = w.Write([]byte(`{"id":"calibrate"}`))
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	local := newClient("http://"+ln.Addr().String(), c.profile)
	defer local.http.CloseIdleConnections()
	local.clientID = c.clientID
	c0 := selfCPU()
	for i := range n {
		local.login(ctx, fmt.Sprintf("192.0.2.%d", i%250+1), "calibrate", "calibrate", "", "", "")
	}
	return float64(selfCPU()-c0) / float64(n)
}
