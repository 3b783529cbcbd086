package gate

import (
	"context"
	"sync/atomic"
	"time"
)

// MaxFloor bounds the floor, so a stalled machine cannot make every failure
// take minutes.
const MaxFloor = 5 * time.Second

// Floor is the least time a failed login takes. Every failure — unknown
// user, wrong password, disabled account, any stored scheme — is padded to
// it, so response timing tells nothing about which accounts exist or how
// their passwords were hashed.
//
// It is set by calibration, never by the verifications of live traffic:
// one verification of every stored hash class (with a margin), measured at
// start and again every refresh, so it follows the machine down as well as
// up. An earlier version raised it to the slowest live verification and
// never lowered it: one verification stalled by CPU contention — which an
// attacker can cause — pinned every later failure at the cap. The token
// service calibrates it against the stored hash classes; the gateway
// learns it from the app's recent login latencies. Safe for concurrent
// use.
type Floor struct {
	min time.Duration // the configured --failure-floor
	d   atomic.Int64  // nanoseconds
}

// NewFloor returns a floor at min, the configured least duration.
func NewFloor(min time.Duration) *Floor {
	f := &Floor{min: min}
	f.d.Store(int64(min))
	return f
}

// Get returns the floor.
func (f *Floor) Get() time.Duration { return time.Duration(f.d.Load()) }

// Set makes the floor cover the slowest measured verification with a
// margin, never below the configured minimum nor above MaxFloor.
func (f *Floor) Set(slowest time.Duration) {
	f.d.Store(int64(min(max(f.min, slowest+slowest/4+2*time.Millisecond), MaxFloor)))
}

// Pad waits until start+floor, or until ctx ends.
func (f *Floor) Pad(ctx context.Context, start time.Time) {
	wait := f.Get() - time.Since(start)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
