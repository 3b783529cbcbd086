package challenge

import (
	"context"
	"errors"
	"testing"
	"time"
)

func nonce(b byte) []byte {
	n := make([]byte, NonceSize)
	n[0] = b
	return n
}

// TestMemoryReplayNeverEvictsEarly steps through time with a full cache:
// an entry stays until its own expiry, whatever else arrives.
func TestMemoryReplayNeverEvictsEarly(t *testing.T) {
	ctx := context.Background()
	r := mustReplay(t, 3)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	steps := []struct {
		now       int // seconds after t0
		nonce     byte
		expires   int
		wantFresh bool
		wantErr   error
		wantLen   int
	}{
		{0, 1, 30, true, nil, 1},
		{1, 2, 10, true, nil, 2},
		{2, 3, 20, true, nil, 3},
		{3, 1, 30, false, nil, 3},                // replay
		{4, 4, 40, false, ErrReplayCacheFull, 3}, // full: nothing is evicted for it
		{9, 2, 10, false, nil, 3},                // 2 is still remembered one second before it expires
		{9, 4, 40, false, ErrReplayCacheFull, 3},
		{10, 4, 40, true, nil, 3},                 // 2 expired: room for 4
		{10, 2, 10, false, ErrReplayCacheFull, 3}, // forgotten at its expiry, but still no room
		{19, 3, 20, false, nil, 3},
		{19, 5, 50, false, ErrReplayCacheFull, 3},
		{20, 5, 50, true, nil, 3}, // 3 expired
		{30, 6, 60, true, nil, 3}, // 1 expired
		{60, 7, 70, true, nil, 1}, // 4, 5 and 6 expired
	}
	for i, s := range steps {
		fresh, err := r.Seen(ctx, sec(s.now), nonce(s.nonce), sec(s.expires))
		if fresh != s.wantFresh || !errors.Is(err, s.wantErr) {
			t.Fatalf("step %d (t=%d, nonce %d): fresh %v err %v, want %v %v", i, s.now, s.nonce, fresh, err, s.wantFresh, s.wantErr)
		}
		if n := r.Len(sec(s.now)); n != s.wantLen {
			t.Fatalf("step %d: Len %d, want %d", i, n, s.wantLen)
		}
		full, err := r.Full(ctx, sec(s.now))
		if err != nil || full != (s.wantLen == 3) {
			t.Fatalf("step %d: Full = %v, %v", i, full, err)
		}
	}
	if _, err := r.Seen(ctx, t0, []byte("short"), t0); err == nil {
		t.Error("Seen accepted a short nonce")
	}
}
