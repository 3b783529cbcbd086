package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/guard"
	"github.com/redis/go-redis/v9"
)

// ErrUnavailable reports that the shared store cannot be reached, so the
// DPoP replay cache cannot record a proof and refuses instead of
// guessing: a proof that cannot be recorded once for every replica is
// never accepted, not even once (it could be accepted again elsewhere).
var ErrUnavailable = errors.New("redisstore: guard store unreachable")

// Watch pings the primary through ping every ProbeEvery until ctx ends: a
// failure marks the Failover degraded and a success while degraded
// returns it to the primary. Without it, health changes only when calls
// notice; with it an idle replica's readiness follows Redis too.
func (f *Failover) Watch(ctx context.Context, ping func(context.Context) error) {
	t := time.NewTicker(f.cfg.ProbeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.Probe(ctx, ping)
		}
	}
}

// Probe pings the primary once through ping and records its health.
func (f *Failover) Probe(ctx context.Context, ping func(context.Context) error) {
	cctx, cancel := context.WithTimeout(ctx, f.cfg.CallTimeout)
	err := ping(cctx)
	cancel()
	now := time.Now()
	switch {
	case err == nil:
		f.setDegraded(now, false, nil)
	case ctx.Err() == nil:
		f.setDegraded(now, true, err)
	}
}

// healthy reports whether calls should go to the primary now (without
// claiming a probe: only budgets and Watch probe).
func (f *Failover) healthy() bool { return !f.Degraded() }

// noteFailure records err from a call to the primary: an unreachable
// primary makes the Failover degraded.
func (f *Failover) noteFailure(ctx context.Context, err error) {
	if unreachable(ctx, err) {
		f.setDegraded(time.Now(), true, err)
	}
}

// unreachable reports whether err means the primary did not answer, as
// opposed to an answer (a replay, a full cache, any Redis error reply) or
// the caller giving up.
func unreachable(ctx context.Context, err error) bool {
	if !primaryFailed(ctx, err) {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) {
		return false
	}
	for _, answered := range []error{dpop.ErrReplay, dpop.ErrReplayCacheFull, challenge.ErrReplayCacheFull} {
		if errors.Is(err, answered) {
			return false
		}
	}
	return true
}

// callPrimary runs fn against the primary with the call timeout, noting a
// failure.
func (f *Failover) callPrimary(ctx context.Context, fn func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, f.cfg.CallTimeout)
	err := fn(cctx)
	cancel()
	if err != nil {
		f.noteFailure(ctx, err)
	}
	return err
}

// FailoverKnownNetworks is a guard.KnownNetworks over a shared primary
// (KnownNetworks in Redis) that follows a Failover: while it is degraded,
// or when a call fails, pairs are read from and remembered in a local
// store instead. A network is known if either store knows it, so logins
// made on this replica during an outage still count after it. Losing the
// shared memory for a while only costs users a challenge, never security.
//
// Create one with NewFailoverKnownNetworks; it is safe for concurrent use.
type FailoverKnownNetworks struct {
	f              *Failover
	primary, local guard.KnownNetworks
	reserver       guard.KnownReserver // nil: ReserveKnown takes two steps
}

var _ guard.KnownNetworks = (*FailoverKnownNetworks)(nil)

// NewFailoverKnownNetworks returns a FailoverKnownNetworks following f.
func NewFailoverKnownNetworks(f *Failover, primary, local guard.KnownNetworks) (*FailoverKnownNetworks, error) {
	if f == nil || primary == nil || local == nil {
		return nil, errors.New("redisstore: failover known networks needs a failover, a primary and a local store")
	}
	return &FailoverKnownNetworks{f: f, primary: primary, local: local}, nil
}

// Known implements guard.KnownNetworks. It fails only with the caller's
// own context.
func (k *FailoverKnownNetworks) Known(ctx context.Context, now time.Time, username string, network netip.Prefix) (bool, error) {
	if k.f.healthy() {
		var known bool
		err := k.f.callPrimary(ctx, func(ctx context.Context) (err error) {
			known, err = k.primary.Known(ctx, now, username, network)
			return err
		})
		if known {
			return true, nil
		}
		if err != nil && ctx.Err() != nil {
			return false, err
		}
	}
	return k.local.Known(ctx, now, username, network)
}

// Remember implements guard.KnownNetworks: in the primary when it
// answers, locally otherwise.
func (k *FailoverKnownNetworks) Remember(ctx context.Context, now time.Time, username string, network netip.Prefix, until time.Time) error {
	if k.f.healthy() {
		err := k.f.callPrimary(ctx, func(ctx context.Context) error {
			return k.primary.Remember(ctx, now, username, network, until)
		})
		if err == nil || ctx.Err() != nil {
			return err
		}
	}
	return k.local.Remember(ctx, now, username, network, until)
}

// FailoverChallengeReplay is a challenge.ReplayCache over a shared one
// that follows a Failover: while it is degraded, or when a call fails,
// challenges are recorded in a local cache instead, so untrusted clients
// are still challenged during an outage (the failure policy: never "allow
// everything", never "deny everyone"). The price, bounded and documented:
// a solution recorded only locally could be spent once more at each other
// replica during the outage, and it is still bound to one address and one
// username and still spends that replica's hard budgets. Every solution
// the primary accepts is also recorded locally, so one spent here during
// an outage is not accepted again here after it.
//
// Create one with NewFailoverChallengeReplay; it is safe for concurrent
// use.
type FailoverChallengeReplay struct {
	f              *Failover
	primary, local challenge.ReplayCache
}

var _ challenge.ReplayCache = (*FailoverChallengeReplay)(nil)

// NewFailoverChallengeReplay returns a FailoverChallengeReplay following f.
func NewFailoverChallengeReplay(f *Failover, primary, local challenge.ReplayCache) (*FailoverChallengeReplay, error) {
	if f == nil || primary == nil || local == nil {
		return nil, errors.New("redisstore: failover challenge replay needs a failover, a primary and a local cache")
	}
	return &FailoverChallengeReplay{f: f, primary: primary, local: local}, nil
}

// Seen implements challenge.ReplayCache: fresh only if neither the
// primary (when it answers) nor the local cache has seen nonce.
func (c *FailoverChallengeReplay) Seen(ctx context.Context, now time.Time, nonce []byte, expires time.Time) (bool, error) {
	if c.f.healthy() {
		var fresh bool
		err := c.f.callPrimary(ctx, func(ctx context.Context) (err error) {
			fresh, err = c.primary.Seen(ctx, now, nonce, expires)
			return err
		})
		switch {
		case err == nil && !fresh:
			return false, nil
		case err != nil && !unreachable(ctx, err):
			return false, err
		}
	}
	return c.local.Seen(ctx, now, nonce, expires)
}

// Full implements challenge.ReplayCache on the cache Seen will record in.
func (c *FailoverChallengeReplay) Full(ctx context.Context, now time.Time) (bool, error) {
	if c.f.healthy() {
		var full bool
		err := c.f.callPrimary(ctx, func(ctx context.Context) (err error) {
			full, err = c.primary.Full(ctx, now)
			return err
		})
		if err == nil || !unreachable(ctx, err) {
			return full, err
		}
	}
	return c.local.Full(ctx, now)
}

// FailoverDPoPReplay is a dpop.ReplayCache over a shared one that refuses
// at once, with ErrUnavailable, while a Failover is degraded: a proof that
// cannot be recorded for every replica is refused (the server answers 503
// with Retry-After), never accepted twice.
//
// Create one with NewFailoverDPoPReplay; it is safe for concurrent use.
type FailoverDPoPReplay struct {
	f       *Failover
	primary dpop.ReplayCache
}

var _ dpop.ReplayCache = (*FailoverDPoPReplay)(nil)

// NewFailoverDPoPReplay returns a FailoverDPoPReplay following f.
func NewFailoverDPoPReplay(f *Failover, primary dpop.ReplayCache) (*FailoverDPoPReplay, error) {
	if f == nil || primary == nil {
		return nil, errors.New("redisstore: failover dpop replay needs a failover and a primary")
	}
	return &FailoverDPoPReplay{f: f, primary: primary}, nil
}

// Remember implements dpop.ReplayCache.
func (c *FailoverDPoPReplay) Remember(ctx context.Context, now time.Time, key string, expires time.Time) error {
	if !c.f.healthy() {
		return fmt.Errorf("dpop replay: %w", ErrUnavailable)
	}
	return c.f.callPrimary(ctx, func(ctx context.Context) error {
		return c.primary.Remember(ctx, now, key, expires)
	})
}
