package gatetest

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/guard"
)

// CountingGuard wraps a real guard and counts, since the last Reset, the
// reservations it granted (allowed verdicts of Check and CheckAddress) and
// the outcomes recorded against them, so a test can show that every
// admitted attempt was settled exactly once. Safe for concurrent use.
type CountingGuard struct {
	gate.Guard

	mu       sync.Mutex
	admitted int
	outcomes []guard.Outcome
}

// Check is the wrapped guard's, counted.
func (c *CountingGuard) Check(ctx context.Context, now time.Time, a guard.Attempt) (guard.Verdict, error) {
	v, err := c.Guard.Check(ctx, now, a)
	c.count(v, err)
	return v, err
}

// CheckAddress is the wrapped guard's, counted.
func (c *CountingGuard) CheckAddress(ctx context.Context, now time.Time, ip netip.Addr) (guard.Verdict, error) {
	v, err := c.Guard.CheckAddress(ctx, now, ip)
	c.count(v, err)
	return v, err
}

func (c *CountingGuard) count(v guard.Verdict, err error) {
	if err == nil && v.Allowed {
		c.mu.Lock()
		c.admitted++
		c.mu.Unlock()
	}
}

// Record is the wrapped guard's, counted.
func (c *CountingGuard) Record(ctx context.Context, now time.Time, v guard.Verdict, o guard.Outcome) error {
	c.mu.Lock()
	c.outcomes = append(c.outcomes, o)
	c.mu.Unlock()
	return c.Guard.Record(ctx, now, v, o)
}

// Settled returns the reservations granted and the outcomes recorded
// since the last Reset.
func (c *CountingGuard) Settled() (admitted int, outcomes []guard.Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.admitted, append([]guard.Outcome(nil), c.outcomes...)
}

// Reset starts counting afresh.
func (c *CountingGuard) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.admitted, c.outcomes = 0, nil
}
