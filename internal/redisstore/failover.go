package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/credshield/credshield/internal/limit"
)

// Defaults for FailoverConfig.
const (
	DefaultCallTimeout = 250 * time.Millisecond
	DefaultProbeEvery  = 5 * time.Second
)

// FailoverConfig configures NewFailover.
type FailoverConfig struct {
	// Replicas is how many replicas share the primary store
	// (--replicas); each local budget is the shared one divided by it,
	// rounded up, at least one. Zero means 1.
	Replicas int
	// CallTimeout bounds each call to the primary, so an unreachable
	// Redis costs a login this long at most. Zero means
	// DefaultCallTimeout.
	CallTimeout time.Duration
	// ProbeEvery is how often, at most, a degraded Failover tries the
	// primary again (measured with the now passed to Reserve). Zero means
	// DefaultProbeEvery.
	ProbeEvery time.Duration
	// OnChange, if set, is called when the Failover becomes degraded
	// (with the error that caused it) or recovers (with nil), for the log,
	// metrics and readiness. It must not call back into the Failover.
	OnChange func(degraded bool, err error)
}

// Failover is a limit.Store that uses a shared primary store (a Limiter)
// and, while the primary fails, a local one with every budget divided by
// the number of replicas: the service keeps going with about the same
// total budget, never allowing everything and never denying everyone.
// Errors from the primary never reach the caller; only invalid requests
// and the caller's own cancelled context do. While degraded, one call per
// ProbeEvery tries the primary again and, if it answers, the Failover
// returns to it. Budgets spent locally are not carried over either way.
//
// Refund goes to the store that is current; a refund the primary cannot
// take is dropped, which keeps the unit spent (the conservative side).
//
// Create one with NewFailover; it is safe for concurrent use.
type Failover struct {
	primary  limit.Store
	local    limit.Store
	replicas int
	cfg      FailoverConfig

	mu        sync.Mutex
	degraded  bool      // requires mu held
	lastProbe time.Time // requires mu held
}

var _ limit.Store = (*Failover)(nil)

// NewFailover returns a Failover over primary that falls back to local
// (normally a fresh limit.Memory, used only while degraded).
func NewFailover(primary, local limit.Store, cfg FailoverConfig) (*Failover, error) {
	if primary == nil || local == nil {
		return nil, errors.New("redisstore: failover needs a primary and a local store")
	}
	if cfg.Replicas < 0 {
		return nil, fmt.Errorf("redisstore: failover: %d replicas", cfg.Replicas)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.ProbeEvery <= 0 {
		cfg.ProbeEvery = DefaultProbeEvery
	}
	return &Failover{primary: primary, local: local, replicas: cfg.Replicas, cfg: cfg}, nil
}

// Degraded reports whether the Failover is using its local store: for
// /readyz, and for the guard, which challenges every untrusted client
// meanwhile (guard.Config.Degraded).
func (f *Failover) Degraded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.degraded
}

// usePrimary reports whether a call at now should go to the primary: when
// healthy, or when degraded and a probe is due (which it then claims).
func (f *Failover) usePrimary(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.degraded {
		return true
	}
	if now.Sub(f.lastProbe) >= f.cfg.ProbeEvery || now.Before(f.lastProbe) {
		f.lastProbe = now
		return true
	}
	return false
}

// setDegraded records the primary's health and reports a change.
func (f *Failover) setDegraded(now time.Time, degraded bool, err error) {
	f.mu.Lock()
	changed := f.degraded != degraded
	f.degraded = degraded
	if degraded && changed {
		f.lastProbe = now
	}
	f.mu.Unlock()
	if changed && f.cfg.OnChange != nil {
		f.cfg.OnChange(degraded, err)
	}
}

// primaryFailed reports whether err from the primary means it is
// unreachable, as opposed to a bad request or the caller giving up.
func primaryFailed(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && !errors.Is(err, limit.ErrInvalidLimit)
}

// Reserve implements limit.Store.
func (f *Failover) Reserve(ctx context.Context, now time.Time, reqs []limit.Request) (limit.Result, error) {
	return f.reserve(ctx, now, reqs, func(ctx context.Context) (limit.Result, error) {
		return f.primary.Reserve(ctx, now, reqs)
	})
}

// reserve is Reserve with primary as the primary's part: a
// FailoverKnownNetworks reserves through the same rules with the
// known-network lookup folded in.
func (f *Failover) reserve(ctx context.Context, now time.Time, reqs []limit.Request, primary func(context.Context) (limit.Result, error)) (limit.Result, error) {
	if f.usePrimary(now) {
		cctx, cancel := context.WithTimeout(ctx, f.cfg.CallTimeout)
		res, err := primary(cctx)
		cancel()
		if !primaryFailed(ctx, err) {
			if err == nil {
				f.setDegraded(now, false, nil)
			}
			return res, err
		}
		f.setDegraded(now, true, err)
	}
	return f.local.Reserve(ctx, now, f.divide(reqs))
}

// Refund implements limit.Store.
func (f *Failover) Refund(ctx context.Context, now time.Time, reqs []limit.Request) error {
	if f.Degraded() {
		return f.local.Refund(ctx, now, f.divide(reqs))
	}
	cctx, cancel := context.WithTimeout(ctx, f.cfg.CallTimeout)
	err := f.primary.Refund(cctx, now, reqs)
	cancel()
	if primaryFailed(ctx, err) {
		f.setDegraded(now, true, err)
		return nil
	}
	return err
}

// divide returns reqs with each Burst divided by the replica count,
// rounded up and at least one; the Period stays, so the sustained rate is
// divided too.
func (f *Failover) divide(reqs []limit.Request) []limit.Request {
	if f.replicas == 1 {
		return reqs
	}
	out := make([]limit.Request, len(reqs))
	for i, r := range reqs {
		if r.Limit.Burst >= 1 { // invalid ones stay invalid
			r.Limit.Burst = DividedBurst(r.Limit.Burst, f.replicas)
		}
		out[i] = r
	}
	return out
}

// DividedBurst is the local share of a burst over replicas: rounded up,
// at least one.
func DividedBurst(burst, replicas int) int {
	if replicas < 1 {
		replicas = 1
	}
	return max((burst+replicas-1)/replicas, 1)
}
