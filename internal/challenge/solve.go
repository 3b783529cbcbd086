package challenge

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Solve finds a solution to the encoded challenge, trying counters 0, 1,
// 2, ... spread over workers goroutines (at least 1; each holds one
// argon2id memory block, MemoryKiB, at a time). It needs no key: it
// reads the token's public fields and does not check its signature or
// expiry. It returns the solution for the challenge_solution form field
// and the number of evaluations it ran, about 2^difficulty on average.
// It stops early with ctx's error when ctx is done.
func Solve(ctx context.Context, encoded string, workers int) (solution string, evaluations int, err error) {
	t, err := decode(encoded)
	if err != nil {
		return "", 0, fmt.Errorf("solve challenge: %w", err)
	}
	if workers < 1 {
		workers = 1
	}
	p := newPuzzle(t)
	var (
		evals  atomic.Int64
		found  atomic.Bool
		result atomic.Uint64 // a solving counter; valid when found
		wg     sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			// Worker w tries w, w+workers, w+2·workers, ... until any
			// worker finds a solution: with one worker the solution is
			// the smallest counter that fits.
			for c := uint64(w); !found.Load(); c += uint64(workers) {
				if ctx.Err() != nil {
					return
				}
				evals.Add(1)
				if solves(p.evaluate(c), p.difficulty) {
					if found.CompareAndSwap(false, true) {
						result.Store(c)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	if !found.Load() {
		if err := ctx.Err(); err != nil {
			return "", int(evals.Load()), fmt.Errorf("solve challenge: %w", err)
		}
		return "", int(evals.Load()), fmt.Errorf("solve challenge: no counter fits: %w", ErrInsufficientWork)
	}
	return formatSolution(result.Load()), int(evals.Load()), nil
}
