package simulate

import (
	"context"
	"crypto/rand"
	"fmt"
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
	c0 := selfCPU()
	for i := range n {
		c.post(ctx, fmt.Sprintf("192.0.2.%d", i%250+1), "grant_type=password&password=calibrate")
	}
	return float64(selfCPU()-c0) / float64(n)
}
