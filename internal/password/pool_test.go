package password

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor fails the test if cond does not become true soon. It is only for
// waiting on other goroutines to reach a blocking point, never for time logic.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func TestPoolOverload(t *testing.T) {
	const (
		workers = 4
		queue   = 8
		callers = 2000
	)
	p := NewPool(workers, queue)
	release := make(chan struct{})
	started := make(chan struct{}, callers)
	var running, maxRunning, completed atomic.Int64
	fn := func() {
		n := running.Add(1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		started <- struct{}{}
		<-release
		running.Add(-1)
		completed.Add(1)
	}

	results := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() { results <- p.Do(context.Background(), fn) })
	}

	// Every call beyond workers+queue must come back with ErrOverloaded while
	// the admitted ones are still blocked: Do never waits for a full pool.
	timeout := time.After(30 * time.Second)
	for i := 0; i < callers-workers-queue; i++ {
		select {
		case err := <-results:
			if !errors.Is(err, ErrOverloaded) {
				t.Fatalf("result %d = %v, want ErrOverloaded (admitted more than workers+queue)", i, err)
			}
		case <-timeout:
			t.Fatalf("only %d of %d rejections arrived", i, callers-workers-queue)
		}
	}
	for range workers {
		<-started
	}
	if got := p.Running(); got != workers {
		t.Errorf("Running = %d, want %d", got, workers)
	}
	if got := p.Queued(); got != queue {
		t.Errorf("Queued = %d, want %d", got, queue)
	}
	select {
	case err := <-results:
		t.Fatalf("an admitted call returned %v before release", err)
	default:
	}
	if err := p.Do(context.Background(), func() {}); !errors.Is(err, ErrOverloaded) {
		t.Errorf("Do on a full pool = %v, want ErrOverloaded", err)
	}

	close(release)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Errorf("admitted call returned %v", err)
		}
	}
	if got := completed.Load(); got != workers+queue {
		t.Errorf("completed = %d, want %d", got, workers+queue)
	}
	if got := maxRunning.Load(); got > workers {
		t.Errorf("max concurrent = %d, exceeds workers %d", got, workers)
	}
	if p.Running() != 0 || p.Queued() != 0 {
		t.Errorf("after drain Running=%d Queued=%d, want 0 0", p.Running(), p.Queued())
	}
}

func TestPoolCancelWhileQueued(t *testing.T) {
	p := NewPool(1, 1)
	release := make(chan struct{})
	busy := make(chan error, 1)
	go func() { busy <- p.Do(context.Background(), func() { <-release }) }()
	waitFor(t, "the worker to start", func() bool { return p.Running() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan error, 1)
	ran := false
	go func() { waiting <- p.Do(ctx, func() { ran = true }) }()
	waitFor(t, "the waiter to queue", func() bool { return p.Queued() == 1 })

	// The queue is full now.
	if err := p.Do(context.Background(), func() {}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Do with full queue = %v, want ErrOverloaded", err)
	}
	cancel()
	if err := <-waiting; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter = %v, want context.Canceled", err)
	}
	if ran {
		t.Error("cancelled waiter ran fn")
	}
	if got := p.Queued(); got != 0 {
		t.Errorf("Queued after cancel = %d, want 0", got)
	}
	// Its queue place is free again: a new caller waits instead of being refused.
	second := make(chan error, 1)
	go func() { second <- p.Do(context.Background(), func() {}) }()
	waitFor(t, "the new waiter to queue", func() bool { return p.Queued() == 1 })
	close(release)
	if err := <-busy; err != nil {
		t.Errorf("running call = %v", err)
	}
	if err := <-second; err != nil {
		t.Errorf("second waiter = %v", err)
	}
}

func TestPoolContextDoneBeforeDo(t *testing.T) {
	p := NewPool(1, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Do(ctx, func() { t.Error("fn ran with a done context") }); !errors.Is(err, context.Canceled) {
		t.Errorf("Do = %v, want context.Canceled", err)
	}
}

func TestPoolSizes(t *testing.T) {
	tests := []struct {
		name                   string
		workers, queue         int
		wantWorkers, wantQueue int
	}{
		{"explicit", 2, 3, 2, 3},
		{"default workers", 0, 1, runtime.NumCPU(), 1},
		{"negative workers", -1, 0, runtime.NumCPU(), 0},
		{"negative queue", 1, -5, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPool(tt.workers, tt.queue)
			if p.Workers() != tt.wantWorkers || p.Queue() != tt.wantQueue {
				t.Errorf("Workers, Queue = %d, %d; want %d, %d", p.Workers(), p.Queue(), tt.wantWorkers, tt.wantQueue)
			}
		})
	}
	// queue 0: with the only worker busy, Do fails at once.
	p := NewPool(1, 0)
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- p.Do(context.Background(), func() { <-release }) }()
	waitFor(t, "the worker to start", func() bool { return p.Running() == 1 })
	if err := p.Do(context.Background(), func() {}); !errors.Is(err, ErrOverloaded) {
		t.Errorf("Do with queue 0 and busy worker = %v, want ErrOverloaded", err)
	}
	close(release)
	<-done
}

func TestPoolPanicReleasesSlot(t *testing.T) {
	p := NewPool(1, 0)
	func() {
		defer func() { _ = recover() }()
		_ = p.Do(context.Background(), func() { panic("boom") })
	}()
	if p.Running() != 0 || p.Queued() != 0 {
		t.Fatalf("after panic Running=%d Queued=%d", p.Running(), p.Queued())
	}
	if err := p.Do(context.Background(), func() {}); err != nil {
		t.Errorf("Do after panic = %v", err)
	}
}

// TestPoolPriorityLane: a DoFirst caller gets a place even when the
// ordinary queue is full, and the next free worker before every Do waiter.
func TestPoolPriorityLane(t *testing.T) {
	p := NewPool(1, 2)
	ctx := context.Background()
	// Hold the ordinary worker and the reserved one.
	holdNormal, holdFirst := make(chan struct{}), make(chan struct{})
	started := make(chan struct{}, 2)
	go func() { _ = p.Do(ctx, func() { started <- struct{}{}; <-holdNormal }) }()
	<-started
	go func() { _ = p.DoFirst(ctx, "held", func() { started <- struct{}{}; <-holdFirst }) }()
	<-started

	var mu sync.Mutex
	var order []string
	run := func(name string, first bool, done chan<- error) {
		do := p.Do
		if first {
			do = func(ctx context.Context, fn func()) error { return p.DoFirst(ctx, name, fn) }
		}
		done <- do(ctx, func() { mu.Lock(); order = append(order, name); mu.Unlock() })
	}
	done := make(chan error, 4)
	waitQueued := func(n int) {
		for p.Queued() != n {
			runtime.Gosched()
		}
	}
	go run("normal-1", false, done)
	waitQueued(1)
	go run("normal-2", false, done)
	waitQueued(2)
	if err := p.Do(ctx, func() {}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("third ordinary waiter: %v, want ErrOverloaded", err)
	}
	go run("first-1", true, done)
	waitQueued(3)
	go run("first-2", true, done)
	waitQueued(4)
	// The ordinary worker comes free: both trusted waiters run on it, one
	// after the other, then the ordinary ones, while the reserved worker is
	// still busy: a function with priority on the reserved worker leaves
	// the ordinary workers to the others.
	close(holdNormal)
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if p.Queued() != 0 || p.Running() != 1 {
		t.Fatalf("after the waiters: queued %d running %d, want 0 and 1", p.Queued(), p.Running())
	}
	close(holdFirst)
	if got := strings.Join(order, " "); got != "first-1 first-2 normal-1 normal-2" {
		t.Errorf("order %s", got)
	}
	waitFor(t, "the reserved worker to come free", func() bool { return p.Running() == 0 && p.Queued() == 0 })
}

// TestPoolReservedWorker: when a flood holds every ordinary worker, a
// trusted caller starts at once on the reserved worker, a second one waits
// and takes the next ordinary worker before the ordinary waiter, which
// then runs beside the reserved worker.
func TestPoolReservedWorker(t *testing.T) {
	p := NewPool(1, 4)
	ctx := context.Background()
	hold := func(first bool) chan struct{} {
		release, started := make(chan struct{}), make(chan struct{})
		do := p.Do
		if first {
			do = func(ctx context.Context, fn func()) error { return p.DoFirst(ctx, "holder", fn) }
		}
		go func() { _ = do(ctx, func() { close(started); <-release }) }()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatalf("first=%v did not start: running %d queued %d", first, p.Running(), p.Queued())
		}
		return release
	}
	untrusted := hold(false)
	trusted := hold(true) // starts although Workers (1) are busy
	if p.Running() != 2 || p.Queued() != 0 {
		t.Fatalf("running %d queued %d, want 2 and 0", p.Running(), p.Queued())
	}
	normalDone, firstDone := make(chan error, 1), make(chan error, 1)
	go func() { normalDone <- p.Do(ctx, func() {}) }()
	go func() { firstDone <- p.DoFirst(ctx, "other", func() {}) }()
	for p.Queued() != 2 {
		runtime.Gosched()
	}
	close(untrusted) // goes to the trusted waiter, then to the ordinary one
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	if err := <-normalDone; err != nil {
		t.Fatal(err)
	}
	if p.Queued() != 0 || p.Running() != 1 {
		t.Fatalf("while the reserved worker runs: queued %d running %d, want 0 and 1", p.Queued(), p.Running())
	}
	close(trusted)
	waitFor(t, "the reserved worker to come free", func() bool { return p.Running() == 0 })
	if p.Running() != 0 || p.Queued() != 0 {
		t.Errorf("after: running %d queued %d", p.Running(), p.Queued())
	}
}

// TestPriorityLaneIsFairAcrossAccounts: one account looping trusted logins
// from several clients at once must not hold the priority lane. It has
// priority for one function at a time; its other callers rank below every
// ordinary waiter, may not take the reserved worker, and may hold only a
// quarter of the priority queue. Each step starts callers, each holding
// its worker until released, and the table says which are running after
// each step.
func TestPriorityLaneIsFairAcrossAccounts(t *testing.T) {
	type caller struct {
		name  string
		first bool   // DoFirst
		key   string // DoFirst's key
	}
	type step struct {
		start   []caller // start these, in order, each queued or running before the next
		finish  []string // then let these finish, in order
		running []string // then exactly these are running
		refused []string // and these came back with ErrOverloaded
	}
	loop := func(n string) caller { return caller{name: n, first: true, key: "mallory"} }
	tests := []struct {
		name           string
		workers, queue int
		steps          []step
	}{
		{
			name: "looping account leaves the ordinary worker to an untrusted login", workers: 1, queue: 8,
			steps: []step{
				{start: []caller{loop("m1"), loop("m2"), loop("m3")}, running: []string{"m1", "m2"}},
				{start: []caller{{name: "u1"}}, running: []string{"m1", "m2"}},
				// m2 (ordinary worker, no priority) ends: the untrusted
				// waiter goes before mallory's third caller.
				{finish: []string{"m2"}, running: []string{"m1", "u1"}},
				// m1 ends: mallory has nothing with priority running,
				// so m3 takes the reserved worker.
				{finish: []string{"m1"}, running: []string{"u1", "m3"}},
				{start: []caller{loop("m4"), {name: "u2"}}, running: []string{"u1", "m3"}},
				{finish: []string{"u1"}, running: []string{"m3", "u2"}},
				{finish: []string{"m3"}, running: []string{"u2", "m4"}},
			},
		},
		{
			name: "another trusted account goes before the looping account", workers: 1, queue: 8,
			steps: []step{
				{start: []caller{loop("m1"), loop("m2"), loop("m3")}, running: []string{"m1", "m2"}},
				{start: []caller{{name: "a1", first: true, key: "alice"}}, running: []string{"m1", "m2"}},
				{finish: []string{"m2"}, running: []string{"m1", "a1"}},
				{finish: []string{"m1"}, running: []string{"a1", "m3"}},
			},
		},
		{
			name: "one account holds at most a quarter of the priority queue", workers: 1, queue: 8,
			steps: []step{
				{start: []caller{loop("m1"), loop("m2"), loop("m3"), loop("m4")}, running: []string{"m1", "m2"}},
				{start: []caller{loop("m5")}, running: []string{"m1", "m2"}, refused: []string{"m5"}},
				{start: []caller{{name: "a1", first: true, key: "alice"}}, running: []string{"m1", "m2"}},
				{finish: []string{"m2"}, running: []string{"m1", "a1"}},
			},
		},
		{
			name: "a lone account uses every ordinary worker but one reserved at most", workers: 2, queue: 8,
			steps: []step{
				{start: []caller{loop("m1"), loop("m2"), loop("m3"), loop("m4")}, running: []string{"m1", "m2", "m3"}},
				// m1 had priority on the reserved worker; m4 has none
				// while m2 and m3 run, so the reserved worker stays free.
				{finish: []string{"m1"}, running: []string{"m2", "m3"}},
				{finish: []string{"m2"}, running: []string{"m3", "m4"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPool(tt.workers, tt.queue)
			ctx := context.Background()
			var mu sync.Mutex
			running := map[string]bool{}
			hold := map[string]chan struct{}{}
			result := map[string]chan error{}
			for _, st := range tt.steps {
				for _, c := range st.start {
					release, done := make(chan struct{}), make(chan error, 1)
					hold[c.name], result[c.name] = release, done
					fn := func() {
						mu.Lock()
						running[c.name] = true
						mu.Unlock()
						<-release
						mu.Lock()
						delete(running, c.name)
						mu.Unlock()
					}
					before := p.Running() + p.Queued()
					go func() {
						if c.first {
							done <- p.DoFirst(ctx, c.key, fn)
						} else {
							done <- p.Do(ctx, fn)
						}
					}()
					// Wait until the caller is running, queued or refused.
					waitFor(t, c.name+" to arrive", func() bool {
						mu.Lock()
						defer mu.Unlock()
						return p.Running()+p.Queued() > before && (running[c.name] || p.Queued() > 0) || len(done) > 0
					})
				}
				for _, n := range st.finish {
					close(hold[n])
					delete(hold, n)
					select {
					case err := <-result[n]:
						if err != nil {
							t.Fatalf("%s: %v", n, err)
						}
					case <-time.After(5 * time.Second):
						t.Fatalf("%s did not finish: it never started", n)
					}
				}
				want := map[string]bool{}
				for _, n := range st.running {
					want[n] = true
				}
				waitFor(t, fmt.Sprintf("running %v", st.running), func() bool {
					mu.Lock()
					defer mu.Unlock()
					return maps.Equal(running, want)
				})
				for _, n := range st.refused {
					select {
					case err := <-result[n]:
						if !errors.Is(err, ErrOverloaded) {
							t.Fatalf("%s: %v, want ErrOverloaded", n, err)
						}
					case <-time.After(5 * time.Second):
						close(hold[n]) // let the cleanup end
						t.Fatalf("%s was queued, want ErrOverloaded", n)
					}
					delete(hold, n)
				}
			}
			for _, h := range hold {
				close(h)
			}
			for n := range hold {
				<-result[n]
			}
			if p.Running() != 0 || p.Queued() != 0 {
				t.Errorf("after: running %d queued %d", p.Running(), p.Queued())
			}
		})
	}
}
