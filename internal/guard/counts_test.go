package guard

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// failingCounts is a shared store that is away.
type failingCounts struct{ calls int }

func (f *failingCounts) Add(context.Context, time.Time, time.Duration, int, int, int) ([]BucketCount, error) {
	f.calls++
	return nil, errors.New("unreachable")
}

func sharedDetector(t *testing.T, shared SharedCounts, every time.Duration) *Detector {
	t.Helper()
	cfg := DefaultDetectorConfig()
	cfg.MinFailures = 10
	cfg.Shared, cfg.SyncEvery = shared, every
	d, err := NewDetector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDetectorsShareCounts: failures on two replicas add up to one
// detector state when they share counts, and do not when they do not.
// Each replica exchanges after every failure, as Run would with a short
// SyncEvery.
func TestDetectorsShareCounts(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	ctx := context.Background()
	tests := []struct {
		name   string
		shared func() (SharedCounts, SharedCounts)
		want   bool
	}{
		{"one shared store", func() (SharedCounts, SharedCounts) { s := &MemorySharedCounts{}; return s, s }, true},
		{"a store each", func() (SharedCounts, SharedCounts) { return &MemorySharedCounts{}, &MemorySharedCounts{} }, false},
		{"no store", func() (SharedCounts, SharedCounts) { return nil, nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sa, sb := tt.shared()
			a, b := sharedDetector(t, sa, time.Millisecond), sharedDetector(t, sb, time.Millisecond)
			now := t0
			for i := range 12 { // 6 each: below the threshold of 10 alone
				now = now.Add(10 * time.Millisecond)
				d := []*Detector{a, b}[i%2]
				if st, _ := d.Observe(now, SignalFailure); st.UnderAttack && !tt.want {
					t.Fatalf("failure %d: under attack with %d failures", i, st.Failures)
				}
				if err := d.Sync(ctx, now); err != nil {
					t.Fatal(err)
				}
			}
			now = now.Add(10 * time.Millisecond)
			for name, d := range map[string]*Detector{"a": a, "b": b} {
				if err := d.Sync(ctx, now); err != nil {
					t.Fatal(err)
				}
				st, _ := d.State(now)
				if st.UnderAttack != tt.want {
					t.Errorf("%s: under attack %v with %d failures in the window, want %v", name, st.UnderAttack, st.Failures, tt.want)
				}
			}
		})
	}
}

// TestDetectorSyncSendsWhatWasCountedSince: between exchanges failures
// are counted locally; they reach the other replica with this replica's
// next exchange and that replica's next one, not before, and are never
// counted twice.
func TestDetectorSyncSendsWhatWasCountedSince(t *testing.T) {
	shared := &MemorySharedCounts{}
	a, b := sharedDetector(t, shared, time.Second), sharedDetector(t, shared, time.Second)
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	for range 5 {
		a.Observe(now, SignalUnknownFailure)
	}
	if st, _ := a.State(now); st.Failures != 5 || st.Unknown != 5 {
		t.Fatalf("a counts %+v locally, want 5 failures, 5 unknown", st)
	}
	if err := b.Sync(ctx, now.Add(500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.State(now.Add(500 * time.Millisecond)); st.Failures != 0 {
		t.Fatalf("b sees %d failures before a's exchange, want 0", st.Failures)
	}
	if err := a.Sync(ctx, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.State(now.Add(time.Second)); st.Failures != 0 {
		t.Fatalf("b sees %d failures before its own exchange, want 0", st.Failures)
	}
	if err := b.Sync(ctx, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.State(now.Add(time.Second)); st.Failures != 5 || st.Unknown != 5 {
		t.Fatalf("b sees %+v after both exchanges, want all 5 of a's failures", st)
	}
	if err := a.Sync(ctx, now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.State(now.Add(2 * time.Second)); st.Failures != 5 {
		t.Fatalf("a counts %d after exchanging twice, want 5 (not counted twice)", st.Failures)
	}
}

// hookCounts is a MemorySharedCounts that calls during in the middle of
// each exchange.
type hookCounts struct {
	MemorySharedCounts
	during func()
}

func (h *hookCounts) Add(ctx context.Context, now time.Time, bucket time.Duration, n, failures, unknown int) ([]BucketCount, error) {
	h.during()
	return h.MemorySharedCounts.Add(ctx, now, bucket, n, failures, unknown)
}

// TestDetectorObserveDuringExchange: a login that finishes while an
// exchange is under way is counted at once (the exchange holds no lock a
// login needs) and is sent with the next exchange, once.
func TestDetectorObserveDuringExchange(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	h := &hookCounts{}
	d := sharedDetector(t, h, time.Second)
	h.during = func() {
		if st, _ := d.Observe(now, SignalFailure); st.Failures != 2 {
			t.Errorf("during the exchange: %d failures, want 2", st.Failures)
		}
	}
	d.Observe(now, SignalFailure)
	if err := d.Sync(ctx, now); err != nil { // sends 1; the hook counts the second
		t.Fatal(err)
	}
	if st, _ := d.State(now); st.Failures != 2 {
		t.Fatalf("after the exchange: %d failures, want the one sent and the one counted meanwhile", st.Failures)
	}
	h.during = func() {}
	if err := d.Sync(ctx, now.Add(time.Second)); err != nil { // sends the second
		t.Fatal(err)
	}
	if st, _ := d.State(now.Add(time.Second)); st.Failures != 2 {
		t.Fatalf("after the next exchange: %d failures, want 2", st.Failures)
	}
}

// TestDetectorSharedStoreAway: with the shared store unreachable a
// detector counts alone and still switches on at its threshold; logins
// never call the store, only exchanges do.
func TestDetectorSharedStoreAway(t *testing.T) {
	fc := &failingCounts{}
	d := sharedDetector(t, fc, time.Second)
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	var st DetectorState
	syncs := 0
	for i := range 10 {
		at := now.Add(time.Duration(i) * 300 * time.Millisecond)
		st, _ = d.Observe(at, SignalFailure)
		if i%4 == 3 { // about once a second, as Run would
			if err := d.Sync(ctx, at); err == nil {
				t.Fatal("an exchange with a store that is away succeeded")
			}
			syncs++
		}
	}
	if !st.UnderAttack || st.Failures != 10 {
		t.Errorf("with the shared store away: %+v, want under attack with 10 failures", st)
	}
	if fc.calls != syncs {
		t.Errorf("%d calls to the shared store for %d exchanges: logins must not call it", fc.calls, syncs)
	}
}

// countingCounts is a MemorySharedCounts that counts exchanges.
type countingCounts struct {
	MemorySharedCounts
	calls atomic.Int32
}

func (c *countingCounts) Add(ctx context.Context, now time.Time, bucket time.Duration, n, failures, unknown int) ([]BucketCount, error) {
	c.calls.Add(1)
	return c.MemorySharedCounts.Add(ctx, now, bucket, n, failures, unknown)
}

// TestDetectorRun: Run exchanges at once and then every SyncEvery while
// logins are observed, and returns when its context ends; without a
// shared store it returns at once.
func TestDetectorRun(t *testing.T) {
	plain := sharedDetector(t, nil, time.Millisecond)
	returned := make(chan struct{})
	go func() { plain.Run(context.Background()); close(returned) }()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Run without a shared store did not return")
	}

	c := &countingCounts{}
	d := sharedDetector(t, c, 5*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { d.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for c.calls.Load() < 3 { // logins go on meanwhile (for the race detector)
		if time.Now().After(deadline) {
			t.Fatalf("%d exchanges in 5 s with SyncEvery 5ms", c.calls.Load())
		}
		d.Observe(time.Now(), SignalFailure)
		time.Sleep(time.Millisecond) // waiting for another goroutine, not for time
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
	// One at once, then at most one per SyncEvery.
	if got, most := c.calls.Load(), 1+int32(time.Since(start)/(5*time.Millisecond)); got > most {
		t.Errorf("%d exchanges in %v, want at most %d", got, time.Since(start), most)
	}
}
