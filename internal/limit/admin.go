package limit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// maxOverrides bounds the unlock overrides a Memory holds at once (see
// Memory.Unlock). An operator unlocks a handful of keys; the bound only
// keeps a script gone wrong from growing memory.
const maxOverrides = 4096

// ErrTooManyOverrides means Unlock found every override slot holding a
// penalty that has not passed yet.
var ErrTooManyOverrides = errors.New("too many unlocked keys still covered by the eviction sketch")

// overrides are the unlocks that must win over the sketch. An evicted
// key's penalty is folded into cells it shares with other keys, so it
// cannot be deleted; instead Unlock remembers the key's estimate at that
// moment (its floor), and any later estimate no later than the floor is
// read as no state at all. A key penalised again after the unlock and
// evicted again raises its cells above the floor, so its new penalty
// stands. An override whose floor has passed changes nothing and is
// dropped. The zero value is empty and ready.
type overrides struct {
	n      atomic.Int32 // len(floors), so reads skip the lock while there are none
	mu     sync.Mutex
	floors map[slot]int64 // requires mu held
}

// forgive returns est, the sketch's estimate for k, or the distant past
// when an override covers it.
func (o *overrides) forgive(k slot, est int64) int64 {
	if o.n.Load() == 0 {
		return est
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if floor, ok := o.floors[k]; ok && est <= floor {
		return math.MinInt64
	}
	return est
}

// add covers k's estimate est, dropping passed overrides when full.
func (o *overrides) add(k slot, est, now int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.floors == nil {
		o.floors = make(map[slot]int64)
	}
	if _, ok := o.floors[k]; !ok && len(o.floors) >= maxOverrides {
		for s, f := range o.floors {
			if f <= now {
				delete(o.floors, s)
			}
		}
		if len(o.floors) >= maxOverrides {
			return fmt.Errorf("limit: unlock: %w (max %d)", ErrTooManyOverrides, maxOverrides)
		}
	}
	o.floors[k] = max(o.floors[k], est)
	o.n.Store(int32(len(o.floors)))
	return nil
}

// Peek describes each request's key at now as Reserve would see it,
// without spending or recording anything: for an operator asking what is
// blocked. KeyResult.OK says whether the key has a unit now.
func (m *Memory) Peek(ctx context.Context, now time.Time, reqs []Request) ([]KeyResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("limit: peek: %w", err)
	}
	if err := validate(reqs); err != nil {
		return nil, err
	}
	ks, err := m.slots(make([]slot, 0, len(reqs)), reqs)
	if err != nil {
		return nil, err
	}
	nowNs := now.UnixNano()
	tats := make([]int64, len(reqs))
	mask := m.lock(ks, nowNs)
	defer m.unlock(mask)
	out := make([]KeyResult, len(reqs))
	for i := range reqs {
		tats[i] = m.currentLocked(ks, tats, i)
		_, ok := reqs[i].Limit.take(tats[i], nowNs)
		out[i] = reqs[i].Limit.state(tats[i], nowNs, ok)
	}
	return out, nil
}

// Unlock gives each request's key its full budget back at now: the
// operator's remedy for a client locked out by mistake. A key in the table
// is deleted, which is exact (an idle key holds its full budget). A key
// whose penalty lives on in the eviction sketch cannot be deleted from
// it, so Unlock records an override that wins over the sketch until that
// penalty has passed (see overrides).
func (m *Memory) Unlock(ctx context.Context, now time.Time, reqs []Request) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("limit: unlock: %w", err)
	}
	if err := validate(reqs); err != nil {
		return err
	}
	ks, err := m.slots(make([]slot, 0, len(reqs)), reqs)
	if err != nil {
		return err
	}
	nowNs := now.UnixNano()
	mask := m.lock(ks, nowNs)
	defer m.unlock(mask)
	var errs []error
	for _, k := range ks {
		s := m.shard(k.hash)
		if t := s.tats[k.class]; t != nil {
			if _, ok := t[k.hash]; ok {
				delete(t, k.hash)
				s.n--
			}
		}
		if sk := m.sketchOf(k.class); sk != nil {
			if est := sk.estimate(k.hash); est > nowNs {
				errs = append(errs, m.unlocked.add(k, est, nowNs))
			}
		}
	}
	return errors.Join(errs...)
}
