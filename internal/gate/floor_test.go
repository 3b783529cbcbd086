package gate

import (
	"context"
	"testing"
	"time"
)

func TestFloorPad(t *testing.T) {
	f := NewFloor(30 * time.Millisecond)
	start := time.Now()
	f.Pad(context.Background(), start)
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Errorf("pad returned after %v", took)
	}
	steps := []struct {
		slowest, want time.Duration
	}{
		{100 * time.Millisecond, 127 * time.Millisecond}, // covers the slowest class, with a margin
		{time.Millisecond, 30 * time.Millisecond},        // comes back down, never below the minimum
		{time.Hour, MaxFloor},                            // capped
		{40 * time.Millisecond, 52 * time.Millisecond},   // and down again after a stall
	}
	for _, st := range steps {
		f.Set(st.slowest)
		if got := f.Get(); got != st.want {
			t.Errorf("after calibrating %v: floor %v, want %v", st.slowest, got, st.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	f.Pad(ctx, start)
	if took := time.Since(start); took > time.Second {
		t.Errorf("pad ignored a cancelled context: %v", took)
	}
}
