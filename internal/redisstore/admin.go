package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/credshield/credshield/internal/limit"
)

// Peek describes each request's key as the next Reserve would see it,
// without spending anything, by the Redis server's clock like Reserve: for
// an operator asking what is blocked. It is one TIME and one MGET.
func (l *Limiter) Peek(ctx context.Context, now time.Time, reqs []limit.Request) ([]limit.KeyResult, error) {
	keys, _, err := l.scriptArgs(now, reqs)
	if err != nil {
		return nil, err
	}
	nowNs := now.UnixNano()
	if !l.callerNow {
		t, err := l.rdb.Time(ctx).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: peek: %w", err)
		}
		nowNs = t.UnixNano()
	}
	vals, err := l.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: peek: %w", err)
	}
	out := make([]limit.KeyResult, len(reqs))
	for i, r := range reqs {
		var cur int64
		if s, ok := vals[i].(string); ok {
			tat, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("redisstore: peek: key %d holds %q: %w", i, s, err)
			}
			cur = max(tat-nowNs, 0)
		}
		t := interval(r.Limit)
		out[i] = state(r.Limit, cur, cur+t <= t*int64(r.Limit.Burst))
	}
	return out, nil
}

// Unlock gives each request's key its full budget back on every replica
// at once: it deletes the keys, which is exact (a missing key is an idle
// one).
func (l *Limiter) Unlock(ctx context.Context, now time.Time, reqs []limit.Request) error {
	keys, _, err := l.scriptArgs(now, reqs)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	if err := l.rdb.Del(ctx, keys...).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: unlock: %w", err)
	}
	return nil
}

// adminStore is what Failover needs of its stores to pass Peek and Unlock
// on: the Limiter and limit.Memory both have it.
type adminStore interface {
	Peek(ctx context.Context, now time.Time, reqs []limit.Request) ([]limit.KeyResult, error)
	Unlock(ctx context.Context, now time.Time, reqs []limit.Request) error
}

// FailoverAdmin passes an operator's Peek and Unlock to a Failover's
// stores: Peek asks the store that decides now (the local one, with its
// divided budgets, while degraded); Unlock clears both, so a client
// unlocked during an outage is not found locked again when Redis answers,
// nor the other way round. Build it with NewFailoverAdmin; it is safe for
// concurrent use.
type FailoverAdmin struct {
	f              *Failover
	primary, local adminStore
}

// NewFailoverAdmin returns the administration of f, whose primary and
// local stores are primary and local.
func NewFailoverAdmin(f *Failover, primary, local adminStore) (*FailoverAdmin, error) {
	if f == nil || primary == nil || local == nil {
		return nil, errors.New("redisstore: failover admin needs the failover and both its stores")
	}
	return &FailoverAdmin{f: f, primary: primary, local: local}, nil
}

// Peek describes the keys in the store that decides now.
func (a *FailoverAdmin) Peek(ctx context.Context, now time.Time, reqs []limit.Request) ([]limit.KeyResult, error) {
	if a.f.Degraded() {
		return a.local.Peek(ctx, now, a.f.divide(reqs))
	}
	return a.primary.Peek(ctx, now, reqs)
}

// Unlock clears the keys in both stores; the primary's error is returned
// unless the Failover is degraded (then Redis is known to be away and its
// keys expire by themselves).
func (a *FailoverAdmin) Unlock(ctx context.Context, now time.Time, reqs []limit.Request) error {
	errLocal := a.local.Unlock(ctx, now, a.f.divide(reqs))
	errPrimary := a.primary.Unlock(ctx, now, reqs)
	if a.f.Degraded() {
		errPrimary = nil
	}
	return errors.Join(errLocal, errPrimary)
}

var (
	_ adminStore = (*Limiter)(nil)
	_ adminStore = (*limit.Memory)(nil)
	_ adminStore = (*FailoverAdmin)(nil)
)
