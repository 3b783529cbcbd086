package guard

import (
	"context"
	"errors"
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
func TestDetectorsShareCounts(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
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
			}
			now = now.Add(10 * time.Millisecond)
			for name, d := range map[string]*Detector{"a": a, "b": b} {
				st, _ := d.State(now)
				if st.UnderAttack != tt.want {
					t.Errorf("%s: under attack %v with %d failures in the window, want %v", name, st.UnderAttack, st.Failures, tt.want)
				}
			}
		})
	}
}

// TestDetectorSyncEvery: between exchanges failures are counted locally
// and reach the other replica with the next exchange, not before.
func TestDetectorSyncEvery(t *testing.T) {
	shared := &MemorySharedCounts{}
	a, b := sharedDetector(t, shared, time.Second), sharedDetector(t, shared, time.Second)
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	b.State(now) // b's first exchange: nothing yet
	for range 5 {
		a.Observe(now, SignalUnknownFailure) // the first is sent at once, the rest wait
	}
	if st, _ := a.State(now); st.Failures != 5 || st.Unknown != 5 {
		t.Fatalf("a counts %+v locally, want 5 failures, 5 unknown", st)
	}
	if st, _ := b.State(now.Add(500 * time.Millisecond)); st.Failures != 0 {
		t.Fatalf("b sees %d failures before its next exchange, want 0", st.Failures)
	}
	if st, _ := b.State(now.Add(time.Second)); st.Failures != 1 {
		t.Fatalf("b sees %d failures after its exchange, want the 1 a sent", st.Failures)
	}
	a.State(now.Add(time.Second)) // a sends the other 4
	if st, _ := b.State(now.Add(2 * time.Second)); st.Failures != 5 || st.Unknown != 5 {
		t.Fatalf("b sees %+v, want all 5 of a's failures", st)
	}
	if st, _ := a.State(now.Add(2 * time.Second)); st.Failures != 5 {
		t.Fatalf("a counts %d after exchanging, want 5 (not counted twice)", st.Failures)
	}
}

// TestDetectorSharedStoreAway: with the shared store unreachable a
// detector counts alone and still switches on at its threshold.
func TestDetectorSharedStoreAway(t *testing.T) {
	fc := &failingCounts{}
	d := sharedDetector(t, fc, time.Second)
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	var st DetectorState
	for i := range 10 {
		st, _ = d.Observe(now.Add(time.Duration(i)*300*time.Millisecond), SignalFailure)
	}
	if !st.UnderAttack || st.Failures != 10 {
		t.Errorf("with the shared store away: %+v, want under attack with 10 failures", st)
	}
	if fc.calls < 2 || fc.calls > 4 {
		t.Errorf("%d exchanges tried over 2.7 s at most one a second, want 3", fc.calls)
	}
}
