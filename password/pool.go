package password

import (
	"context"
	"errors"
	"runtime"
)

// ErrOverloaded is returned by Pool.Do when every worker is busy and the wait
// queue is full. The server answers 503 with Retry-After.
var ErrOverloaded = errors.New("password hasher overloaded")

// Pool runs at most Workers functions at once and lets at most Queue more
// wait; beyond that Do fails fast with ErrOverloaded. It bounds the memory and
// CPU spent on password hashes (each argon2id verification holds its m KiB
// while it runs) whatever the request rate, and it never grows: functions run
// on the caller's goroutine, and waiting callers block on a channel instead of
// sitting in a slice.
//
// Waiters are admitted to a worker roughly in arrival order (Go queues
// goroutines blocked on a channel send first in, first out).
//
// Create one with NewPool; the zero value is not usable. All methods are safe
// for concurrent use.
type Pool struct {
	// admitted holds one token per caller inside Do, running or waiting:
	// capacity workers+queue.
	admitted chan struct{}
	// running holds one token per caller running fn: capacity workers.
	running chan struct{}
}

// NewPool returns a Pool of workers concurrent functions and a wait queue of
// queue. workers <= 0 means runtime.NumCPU(), the useful maximum for
// CPU-bound hashing; queue < 0 means 0 (no waiting: fail unless a worker is free).
func NewPool(workers, queue int) *Pool {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if queue < 0 {
		queue = 0
	}
	return &Pool{
		admitted: make(chan struct{}, workers+queue),
		running:  make(chan struct{}, workers),
	}
}

// Do runs fn on the calling goroutine once a worker is free. It returns
// ErrOverloaded at once, without blocking, if Workers functions are running
// and Queue callers are already waiting; ctx.Err() if ctx is done before fn
// starts (a cancelled waiter leaves the queue at once); and nil after fn
// returns. fn is not interrupted by ctx once it has started.
func (p *Pool) Do(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.admitted <- struct{}{}:
	default:
		return ErrOverloaded
	}
	defer func() { <-p.admitted }()

	select {
	case p.running <- struct{}{}:
	default:
		select {
		case p.running <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-p.running }()
	fn()
	return nil
}

// Queued returns how many callers are waiting for a worker now. It is a
// snapshot for metrics and tests, not a promise about the next Do.
func (p *Pool) Queued() int {
	return max(len(p.admitted)-len(p.running), 0)
}

// Running returns how many functions are running now (a snapshot).
func (p *Pool) Running() int {
	return len(p.running)
}

// Workers returns the maximum number of functions run at once.
func (p *Pool) Workers() int { return cap(p.running) }

// Queue returns the maximum number of callers that wait for a worker.
func (p *Pool) Queue() int { return cap(p.admitted) - cap(p.running) }
