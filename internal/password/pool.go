package password

import (
	"context"
	"errors"
	"runtime"
	"slices"
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
// instead of waiting for an untrusted hash to finish. A function with
// priority runs on the reserved worker when it is free, so that it leaves
// the ordinary workers to everyone else.
//
// Priority is per key (the account): a key has priority for one function
// at a time. While one of its functions runs, its other DoFirst callers
// rank below every Do waiter and never take the reserved worker, and one
// key may hold at most a quarter of the priority queue (at least one
// place). Without this, one account holder looping correct logins from a
// few parallel clients keeps the priority queue non-empty, every freed
// worker goes to them, and untrusted logins of everyone else wait until
// they stop; with it, the looping account gets the reserved worker plus
// whatever ordinary worker nobody else is waiting for. Within each rank,
// waiters are served in arrival order.
//
// Create one with NewPool; the zero value is not usable. All methods are safe
// for concurrent use.
type Pool struct {
	workers, queue int

	mu       sync.Mutex
	ordinary int           // ordinary workers busy; requires mu held
	reserved int           // reserved workers busy; requires mu held
	first    []firstWaiter // DoFirst waiters, oldest first; requires mu held
	normal   []chan slot   // Do waiters, oldest first; requires mu held
	// active counts the running DoFirst functions per key, and queued
	// the waiting ones; keys at zero are deleted. Requires mu held.
	active, queued map[string]int
}

// slot is the kind of worker a function runs on.
type slot int

const (
	noSlot slot = iota
	ordinarySlot
	reservedSlot
)

// firstWaiter is one DoFirst caller waiting for a worker.
type firstWaiter struct {
	ready chan slot
	key   string
}

// NewPool returns a Pool of workers concurrent functions and wait queues of
// queue callers per lane. workers <= 0 means runtime.NumCPU(), the useful
// maximum for CPU-bound hashing; queue < 0 means 0 (no waiting: fail unless a
// worker is free).
func NewPool(workers, queue int) *Pool {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	return &Pool{workers: workers, queue: max(queue, 0), active: map[string]int{}, queued: map[string]int{}}
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
	s, err := p.acquireNormal(ctx)
	if err != nil {
		return err
	}
	defer p.release(s, false, "")
	fn()
	return nil
}

// DoFirst is Do in the priority lane for key (the account the work is
// for): its own wait queue of Queue places, and served before every Do
// waiter — for one function of key at a time (see Pool). It also returns
// ErrOverloaded when key already holds its share of the queue.
func (p *Pool) DoFirst(ctx context.Context, key string, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s, err := p.acquireFirst(ctx, key)
	if err != nil {
		return err
	}
	defer p.release(s, true, key)
	fn()
	return nil
}

// keyQueue is how many places of the priority queue one key may hold.
func (p *Pool) keyQueue() int { return max(p.queue/4, 1) }

// acquireNormal takes an ordinary worker for Do, waiting in the ordinary
// queue if need be.
func (p *Pool) acquireNormal(ctx context.Context) (slot, error) {
	p.mu.Lock()
	// Ordinary waiters exist only while every ordinary worker is busy, so
	// a free one means nobody of this rank or above is ahead of us.
	if p.ordinary < p.workers {
		p.ordinary++
		p.mu.Unlock()
		return ordinarySlot, nil
	}
	if len(p.normal) >= p.queue {
		p.mu.Unlock()
		return noSlot, ErrOverloaded
	}
	ready := make(chan slot, 1)
	p.normal = append(p.normal, ready)
	p.mu.Unlock()

	select {
	case s := <-ready:
		return s, nil // release handed its worker over
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		if i := slices.Index(p.normal, ready); i >= 0 {
			p.normal = slices.Delete(p.normal, i, i+1)
			return noSlot, ctx.Err()
		}
		// The worker was handed over just as ctx ended: pass it on.
		p.releaseLocked(<-ready, false, "")
		return noSlot, ctx.Err()
	}
}

// acquireFirst takes a worker for DoFirst, waiting in the priority queue if
// need be.
func (p *Pool) acquireFirst(ctx context.Context, key string) (slot, error) {
	p.mu.Lock()
	if s := p.freeSlotLocked(p.active[key] == 0); s != noSlot {
		p.startFirstLocked(s, key)
		p.mu.Unlock()
		return s, nil
	}
	if len(p.first) >= p.queue || p.queued[key] >= p.keyQueue() {
		p.mu.Unlock()
		return noSlot, ErrOverloaded
	}
	w := firstWaiter{ready: make(chan slot, 1), key: key}
	p.first = append(p.first, w)
	p.queued[key]++
	p.mu.Unlock()

	select {
	case s := <-w.ready:
		return s, nil
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		if i := slices.IndexFunc(p.first, func(x firstWaiter) bool { return x.ready == w.ready }); i >= 0 {
			p.first = slices.Delete(p.first, i, i+1)
			decKey(p.queued, key)
			return noSlot, ctx.Err()
		}
		p.releaseLocked(<-w.ready, true, key)
		return noSlot, ctx.Err()
	}
}

// reservedWorkers is how many workers only DoFirst callers with priority
// may take.
const reservedWorkers = 1

// freeSlotLocked returns the worker a DoFirst caller may take now, noSlot
// if none: with priority, the reserved worker first, then an ordinary one;
// without, an ordinary one nobody of a higher rank waits for. Requires
// p.mu held.
func (p *Pool) freeSlotLocked(priority bool) slot {
	switch {
	case priority && p.reserved < reservedWorkers:
		return reservedSlot
	case p.ordinary < p.workers && (priority || len(p.normal) == 0):
		return ordinarySlot
	}
	return noSlot
}

// startFirstLocked counts a DoFirst function of key as running on s.
// Requires p.mu held.
func (p *Pool) startFirstLocked(s slot, key string) {
	if s == reservedSlot {
		p.reserved++
	} else {
		p.ordinary++
	}
	p.active[key]++
}

// decKey lowers m[key] by one, deleting it at zero so the maps hold only
// keys with work.
func decKey(m map[string]int, key string) {
	if m[key] <= 1 {
		delete(m, key)
		return
	}
	m[key]--
}

// release gives back the worker s taken by Do (first false) or DoFirst for
// key.
func (p *Pool) release(s slot, first bool, key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked(s, first, key)
}

// releaseLocked hands the freed worker to, in order: the oldest DoFirst
// waiter whose key has nothing running; for an ordinary worker, the oldest
// Do waiter, then the oldest other DoFirst waiter; else the pool. Requires
// p.mu held.
func (p *Pool) releaseLocked(s slot, first bool, key string) {
	if s == reservedSlot {
		p.reserved--
	} else {
		p.ordinary--
	}
	if first {
		decKey(p.active, key)
	}
	pick := func(priority bool) int {
		return slices.IndexFunc(p.first, func(w firstWaiter) bool { return (p.active[w.key] == 0) == priority })
	}
	if i := pick(true); i >= 0 {
		p.handFirstLocked(i, s)
		return
	}
	if s != ordinarySlot {
		return
	}
	if len(p.normal) > 0 {
		next := p.normal[0]
		p.normal = p.normal[1:]
		p.ordinary++
		next <- s // the worker passes to next
		return
	}
	if i := pick(false); i >= 0 {
		p.handFirstLocked(i, s)
	}
}

// handFirstLocked passes worker s to the i-th DoFirst waiter. Requires
// p.mu held.
func (p *Pool) handFirstLocked(i int, s slot) {
	w := p.first[i]
	p.first = slices.Delete(p.first, i, i+1)
	decKey(p.queued, w.key)
	p.startFirstLocked(s, w.key)
	w.ready <- s
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
	return p.ordinary + p.reserved
}

// Workers returns the maximum number of Do functions run at once; DoFirst
// functions may use one more worker.
func (p *Pool) Workers() int { return p.workers }

// Queue returns the maximum number of callers that wait for a worker in
// each lane.
func (p *Pool) Queue() int { return p.queue }
