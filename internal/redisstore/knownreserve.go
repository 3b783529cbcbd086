package redisstore

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
)

// KnownLimiter is a Limiter and the KnownNetworks kept in the same Redis,
// as one guard.KnownReserver: an untrusted login's known-network lookup
// and its reservation are one script, one round trip instead of two.
// Both must use the same client; the zero value is not usable. Safe for
// concurrent use.
type KnownLimiter struct {
	Limiter *Limiter
	Known   *KnownNetworks
}

var _ guard.KnownReserver = KnownLimiter{}

// ReserveKnown implements guard.KnownReserver.
func (k KnownLimiter) ReserveKnown(ctx context.Context, now time.Time, username string, network netip.Prefix, ifUnknown, ifKnown []limit.Request) (bool, limit.Result, error) {
	return k.Limiter.ReserveKnown(ctx, now, k.Known, username, network, ifUnknown, ifKnown)
}

// NewFailoverKnownReserver is NewFailoverKnownNetworks over primary.Known
// whose ReserveKnown asks primary in one round trip while f is healthy.
// f's primary store must be primary.Limiter.
func NewFailoverKnownReserver(f *Failover, primary KnownLimiter, local guard.KnownNetworks) (*FailoverKnownNetworks, error) {
	if primary.Limiter == nil || primary.Known == nil {
		return nil, errors.New("redisstore: failover known reserver needs a limiter and known networks")
	}
	k, err := NewFailoverKnownNetworks(f, primary.Known, local)
	if err != nil {
		return nil, err
	}
	k.reserver = primary
	return k, nil
}

var _ guard.KnownReserver = (*FailoverKnownNetworks)(nil)

// ReserveKnown implements guard.KnownReserver: what Known followed by the
// Failover's Reserve decides, in one call to the primary when the local
// store does not know the pair (a login remembered during an outage) and
// the Failover is healthy. When the primary fails, the pair is unknown
// and the local store reserves, as Reserve does.
func (k *FailoverKnownNetworks) ReserveKnown(ctx context.Context, now time.Time, username string, network netip.Prefix, ifUnknown, ifKnown []limit.Request) (bool, limit.Result, error) {
	if k.reserver == nil || !k.f.healthy() {
		return k.knownThenReserve(ctx, now, username, network, ifUnknown, ifKnown)
	}
	if known, err := k.local.Known(ctx, now, username, network); err != nil || known {
		if err != nil {
			return false, limit.Result{}, err
		}
		res, err := k.f.Reserve(ctx, now, ifKnown)
		return true, res, err
	}
	var known bool
	res, err := k.f.reserve(ctx, now, ifUnknown, func(ctx context.Context) (res limit.Result, err error) {
		known, res, err = k.reserver.ReserveKnown(ctx, now, username, network, ifUnknown, ifKnown)
		return res, err
	})
	return known, res, err
}

// knownThenReserve is ReserveKnown in two steps: Known, then the
// Failover's Reserve.
func (k *FailoverKnownNetworks) knownThenReserve(ctx context.Context, now time.Time, username string, network netip.Prefix, ifUnknown, ifKnown []limit.Request) (bool, limit.Result, error) {
	known, err := k.Known(ctx, now, username, network)
	if err != nil {
		return false, limit.Result{}, err
	}
	reqs := ifUnknown
	if known {
		reqs = ifKnown
	}
	res, err := k.f.Reserve(ctx, now, reqs)
	return known, res, err
}
