package challenge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/credshield/credshield/internal/replay"
)

// MemoryReplay is a ReplayCache in process memory for a single node, over
// package replay's bounded cache. It holds at most a fixed number of spent
// challenges and never drops one before it expires: expired entries are
// swept, oldest expiry first, on every call, and when the live ones fill
// it, Seen answers ErrReplayCacheFull and Full true until some expire. An
// entry costs about 64 bytes, so DefaultReplayCapacity (2^19) takes some
// 33 MiB and absorbs 2^19 / DefaultTTL ≈ 4,300 verifications a second,
// more than two cores can evaluate (one takes about 0.65 ms).
//
// Create one with NewMemoryReplay; the zero value has no room and refuses
// every challenge. It is safe for concurrent use.
type MemoryReplay struct {
	spent *replay.Cache[[NonceSize]byte]
}

// DefaultReplayCapacity is a capacity for NewMemoryReplay sized for the
// default TTL on a small server; see MemoryReplay.
const DefaultReplayCapacity = 1 << 19

// NewMemoryReplay returns an empty MemoryReplay that holds up to
// capacity live entries.
func NewMemoryReplay(capacity int) (*MemoryReplay, error) {
	if capacity < 1 {
		return nil, fmt.Errorf("replay cache capacity %d, want at least 1", capacity)
	}
	return &MemoryReplay{spent: replay.New(capacity, replay.Quota[[NonceSize]byte]{})}, nil
}

// Seen implements ReplayCache. Nonces must be NonceSize bytes.
func (r *MemoryReplay) Seen(_ context.Context, now time.Time, nonce []byte, expires time.Time) (bool, error) {
	if len(nonce) != NonceSize {
		return false, fmt.Errorf("replay cache: nonce of %d bytes, want %d", len(nonce), NonceSize)
	}
	switch err := r.spent.Add(now, [NonceSize]byte(nonce), expires); {
	case err == nil:
		return true, nil
	case errors.Is(err, replay.ErrSeen):
		return false, nil
	default: // replay.ErrFull: there is no quota
		return false, ErrReplayCacheFull
	}
}

// Full implements ReplayCache.
func (r *MemoryReplay) Full(_ context.Context, now time.Time) (bool, error) {
	return r.spent.Full(now), nil
}

// Len returns the number of live entries at now, for metrics.
func (r *MemoryReplay) Len(now time.Time) int { return r.spent.Len(now) }

var _ ReplayCache = (*MemoryReplay)(nil)
