package password

import (
	"context"
	"errors"
	"runtime"
	"sync"
)

// ErrOverloaded is returned by Pool.Do when every worker is busy and the wait
// queue is full. The server answers 503 with Retry-After.
var ErrOverloaded = errors.New("password hasher overloaded")

// Pool runs at most Workers functions at once and lets at most Queue more
// wait; beyond that Do fails fast with ErrOverloaded. It bounds the memory and
// CPU spent on password hashes (each argon2id verification holds its m KiB
// while it runs) whatever the request rate, and it never grows: functions run
// on the caller's goroutine, and the wait queues are bounded.
//
// There are two lanes. DoFirst is for clients the guard trusts (a device
// credential, a known network): they have a wait queue of their own, so a
// flood of untrusted attempts that fills the ordinary queue cannot turn them
// away with 503, and a freed worker goes to a DoFirst waiter before any Do
// waiter, so they do not wait behind the flood either. The priority lane
// also has one worker of its own beyond Workers (the reserved worker): when
// a flood keeps every ordinary worker busy, a trusted login starts at once
// instead of waiting for an untrusted hash to finish, and no new Do starts
// until the pool is back under Workers. Within a lane, waiters are served in
// arrival order.
//
// Create one with NewPool; the zero value is not usable. All methods are safe
// for concurrent use.
type Pool struct {
	workers, queue int

	mu      sync.Mutex
	running int             // functions running; requires mu held
	first   []chan struct{} // DoFirst waiters, oldest first; requires mu held
	normal  []chan struct{} // Do waiters, oldest first; requires mu held
}

// NewPool returns a Pool of workers concurrent functions and wait queues of
// queue callers per lane. workers <= 0 means runtime.NumCPU(), the useful
// maximum for CPU-bound hashing; queue < 0 means 0 (no waiting: fail unless a
// worker is free).
func NewPool(workers, queue int) *Pool {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	return &Pool{workers: workers, queue: max(queue, 0)}
}

// Do runs fn on the calling goroutine once a worker is free. It returns
// ErrOverloaded at once, without blocking, if Workers functions are running
// and Queue callers are already waiting; ctx.Err() if ctx is done before fn
// starts (a cancelled waiter leaves the queue at once); and nil after fn
// returns. fn is not interrupted by ctx once it has started.
func (p *Pool) Do(ctx context.Context, fn func()) error { return p.do(ctx, false, fn) }

// DoFirst is Do in the priority lane: its own wait queue of Queue places,
// and served before every Do waiter.
func (p *Pool) DoFirst(ctx context.Context, fn func()) error { return p.do(ctx, true, fn) }

func (p *Pool) do(ctx context.Context, first bool, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.acquire(ctx, first); err != nil {
		return err
	}
	defer p.release()
	fn()
	return nil
}

// acquire takes a worker, waiting in the lane's queue if need be.
func (p *Pool) acquire(ctx context.Context, first bool) error {
	p.mu.Lock()
	// Waiters exist only while every worker of their lane runs, so a free
	// worker means nobody is ahead of us.
	if p.running < p.limit(first) {
		p.running++
		p.mu.Unlock()
		return nil
	}
	lane := &p.normal
	if first {
		lane = &p.first
	}
	if len(*lane) >= p.queue {
		p.mu.Unlock()
		return ErrOverloaded
	}
	ready := make(chan struct{})
	*lane = append(*lane, ready)
	p.mu.Unlock()

	select {
	case <-ready:
		return nil // release handed its worker over
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		if i := indexOf(*lane, ready); i >= 0 {
			*lane = append((*lane)[:i], (*lane)[i+1:]...)
			return ctx.Err()
		}
		// The worker was handed over just as ctx ended: pass it on.
		p.releaseLocked()
		return ctx.Err()
	}
}

// reservedWorkers is how many workers only DoFirst may take.
const reservedWorkers = 1

// limit is how many functions may run for a caller of the lane to start.
func (p *Pool) limit(first bool) int {
	if first {
		return p.workers + reservedWorkers
	}
	return p.workers
}

// release gives a worker back: to the oldest DoFirst waiter, else the
// oldest Do waiter if the pool is under Workers, else the pool.
func (p *Pool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked()
}

// releaseLocked requires p.mu held.
func (p *Pool) releaseLocked() {
	p.running--
	for _, lane := range []struct {
		waiters *[]chan struct{}
		first   bool
	}{{&p.first, true}, {&p.normal, false}} {
		if len(*lane.waiters) > 0 && p.running < p.limit(lane.first) {
			next := (*lane.waiters)[0]
			*lane.waiters = (*lane.waiters)[1:]
			p.running++
			close(next) // the worker passes to next
			return
		}
	}
}

func indexOf(list []chan struct{}, c chan struct{}) int {
	for i, x := range list {
		if x == c {
			return i
		}
	}
	return -1
}

// Queued returns how many callers are waiting for a worker now, in both
// lanes. It is a snapshot for metrics and tests, not a promise about the
// next Do.
func (p *Pool) Queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.first) + len(p.normal)
}

// Running returns how many functions are running now (a snapshot).
func (p *Pool) Running() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// Workers returns the maximum number of Do functions run at once; DoFirst
// functions may use one more worker.
func (p *Pool) Workers() int { return p.workers }

// Queue returns the maximum number of callers that wait for a worker in
// each lane.
func (p *Pool) Queue() int { return p.queue }
