package limit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys is the key cap used when MemoryConfig.MaxKeys is zero:
// about 1M keys, some 38 MB of tables (36 bytes per key, measured by
// TestBytesPerKey), plus 2 MiB per Limit whose sketch is in use.
const DefaultMaxKeys = 1 << 20

// numShards is the number of independently locked shards. It is 64 so
// that the set of shards one Reserve touches is a uint64 bit mask, locked
// in ascending order.
const numShards = 64

// evictionSamples is how many entries of a full shard are inspected to
// choose a victim, as Redis does for its approximate LRU.
const evictionSamples = 8

// MaxLimits is how many distinct Limits one Memory store accepts. Keys are
// tracked per Limit (see Memory); the guard uses a handful.
const MaxLimits = 16

// Errors returned by Memory; check them with errors.Is.
var (
	// ErrInvalidConfig means a MemoryConfig cannot be used.
	ErrInvalidConfig = errors.New("invalid memory store config")
	// ErrTooManyLimits means requests used more than MaxLimits distinct
	// Limits over the store's life.
	ErrTooManyLimits = errors.New("too many distinct limits")
)

// MemoryConfig configures NewMemory.
type MemoryConfig struct {
	// MaxKeys is the hard cap on tracked keys (--guard-max-keys). Zero
	// means DefaultMaxKeys; otherwise it must be at least 64 (one per
	// shard). The cap is split evenly over the shards, so the table holds
	// at most MaxKeys rounded down to a multiple of 64.
	MaxKeys int
}

// Memory is a Store held in process memory, bounded whatever clients send.
//
// Keys are hashed with a per-process random seed (hash/maphash), so an
// attacker cannot aim collisions, and only the 64-bit hash and the TAT are
// kept: about 36 bytes per tracked key at 1M keys, against some 220 for
// x/time/rate limiters in an LRU map (BenchmarkBytesPerKey). The table is split into 64 shards,
// each with its own mutex; a Reserve locks the shards of its keys in
// ascending order, which keeps multi-key reservations atomic and free of
// deadlocks.
//
// State is kept per Limit: a key's identity is its string and its Limit,
// and each Limit has its own table partition and its own sketch, so an
// estimate for a key is only ever built from keys of the same Limit and can
// never exceed that Limit's own Period. (One shared sketch would let a flood
// of keys with a long Period deny every untracked key with a short one.)
// A store accepts at most MaxLimits distinct Limits.
//
// When a shard is full, room is made without ever forgiving a penalty:
//
//  1. Idle keys (TAT at or before now) go first. They hold their full
//     budget, so forgetting them is exact. A full shard sweeps out all of
//     them at most once per quarter of its capacity in inserts, which
//     keeps the sweep's cost constant per insert.
//  2. Otherwise eight entries of the shard's largest Limit partition
//     (under a flood, the flood's) are sampled, as Redis does, and the one
//     with the smallest TAT is evicted: the key closest to idle, which for
//     keys of one Limit is the least recently used. Sampling replaces a
//     true LRU list, whose links would more than double the bytes per key,
//     and evicting the smallest TAT keeps the sketch's over-estimates as
//     small as they can be.
//  3. An evicted key still in penalty is folded into its Limit's
//     fixed-size count-min sketch (4 × 65536 cells of 8 bytes: 2 MiB,
//     allocated at the first fold). Each cell keeps the largest TAT folded
//     into it and a key's estimate is the smallest of its four cells, so
//     the estimate can only be later than the key's true TAT, never
//     earlier. A key not in the table starts from that estimate. Flooding
//     random keys therefore cannot wash out a victim's or an attacker's
//     state. The price: once a Limit's sketch is saturated, its untracked
//     keys start as spent as the flood's keys were (at most a full Period,
//     and never for other Limits) until the cells' TATs pass.
//
// Refund skips keys that are no longer in the table, which keeps the unit
// spent: the conservative side again.
//
// Create a Memory with NewMemory; the zero value is not usable. A Memory is
// safe for concurrent use.
type Memory struct {
	seed     maphash.Seed
	shardCap int
	shards   [numShards]shard

	limits   atomic.Pointer[[]Limit] // class index → Limit; copy on write
	limitsMu sync.Mutex              // serialises additions to limits
	sketches [MaxLimits]atomic.Pointer[sketch]
	unlocked overrides // keys an operator unlocked while the sketch still penalises them (admin.go)
}

// shard is one independently locked part of the table.
type shard struct {
	mu         sync.Mutex
	tats       [MaxLimits]map[uint64]int64 // per class: key hash → TAT in Unix ns
	n          int                         // entries over all classes
	sinceSweep int                         // inserts since the last idle sweep
	lastNow    int64                       // latest now seen, for Stats
	_          [32]byte                    // keep shards on separate cache lines
}

// NewMemory returns an empty Memory store.
func NewMemory(cfg MemoryConfig) (*Memory, error) {
	maxKeys := cfg.MaxKeys
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	if maxKeys < numShards {
		return nil, fmt.Errorf("limit: max keys %d is below %d: %w", cfg.MaxKeys, numShards, ErrInvalidConfig)
	}
	return &Memory{
		seed:     maphash.MakeSeed(),
		shardCap: maxKeys / numShards,
	}, nil
}

// maxInline is how many requests Reserve handles without allocating
// scratch space; the guard sends four or five.
const maxInline = 8

// Reserve implements Store.
func (m *Memory) Reserve(ctx context.Context, now time.Time, reqs []Request) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("limit: reserve: %w", err)
	}
	if err := validate(reqs); err != nil {
		return Result{}, err
	}
	var kbuf [maxInline]slot
	var tbuf [maxInline]int64
	ks, tats := kbuf[:0], tbuf[:0]
	if len(reqs) > maxInline {
		ks, tats = make([]slot, 0, len(reqs)), make([]int64, 0, len(reqs))
	}
	ks, err := m.slots(ks, reqs)
	if err != nil {
		return Result{}, err
	}
	tats = tats[:len(reqs)]
	nowNs := now.UnixNano()

	mask := m.lock(ks, nowNs)
	defer m.unlock(mask)

	res := Result{Allowed: true, Denied: -1, Keys: make([]KeyResult, len(reqs))}
	for i := range reqs {
		cur := m.currentLocked(ks, tats, i)
		next, ok := reqs[i].Limit.take(cur, nowNs)
		if !ok {
			if res.Allowed {
				res.Allowed, res.Denied = false, i
			}
			next = cur
		}
		tats[i] = next
		// Provisional: describes the key as this request saw it. Replaced
		// below when the whole Reserve is allowed.
		res.Keys[i] = reqs[i].Limit.state(cur, nowNs, ok)
		if !ok {
			res.RetryAfter = max(res.RetryAfter, res.Keys[i].RetryAfter)
		}
	}
	if !res.Allowed {
		return res, nil
	}
	for i, k := range ks {
		m.shard(k.hash).putLocked(k, tats[i], nowNs, m)
		res.Keys[i] = reqs[i].Limit.state(tats[i], nowNs, true)
	}
	return res, nil
}

// Refund implements Store.
func (m *Memory) Refund(ctx context.Context, now time.Time, reqs []Request) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("limit: refund: %w", err)
	}
	if err := validate(reqs); err != nil {
		return err
	}
	var kbuf [maxInline]slot
	ks, err := m.slots(kbuf[:0], reqs)
	if err != nil {
		return err
	}
	mask := m.lock(ks, now.UnixNano())
	defer m.unlock(mask)
	for i, k := range ks {
		t := m.shard(k.hash).tats[k.class]
		if tat, ok := t[k.hash]; ok {
			// Below now is the same as now: a full budget.
			t[k.hash] = tat - reqs[i].Limit.interval()
		}
	}
	return nil
}

// Stats reports how many keys are tracked and the fraction of sketch cells
// that still hold a penalty, as of the latest time the store was called
// with, for the most filled Limit's sketch: a fill near 1 means untracked
// keys of that Limit start out penalised. Both are for metrics; Stats locks
// each shard briefly in turn and scans every sketch.
func (m *Memory) Stats() (keys int, sketchFill float64) {
	var now int64 = math.MinInt64
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		keys += s.n
		now = max(now, s.lastNow)
		s.mu.Unlock()
	}
	for i := range m.sketches {
		if sk := m.sketches[i].Load(); sk != nil {
			sketchFill = max(sketchFill, sk.fill(now))
		}
	}
	return keys, sketchFill
}

// slot identifies a key in the table: its Limit's class and its hash.
type slot struct {
	hash  uint64
	class int
}

// slots appends the slot of every request to ks.
func (m *Memory) slots(ks []slot, reqs []Request) ([]slot, error) {
	for i := range reqs {
		c, err := m.class(reqs[i].Limit)
		if err != nil {
			return nil, err
		}
		ks = append(ks, slot{maphash.String(m.seed, reqs[i].Key), c})
	}
	return ks, nil
}

// class returns the class index of l, registering l if it is new.
func (m *Memory) class(l Limit) (int, error) {
	if p := m.limits.Load(); p != nil {
		for i, x := range *p {
			if x == l {
				return i, nil
			}
		}
	}
	m.limitsMu.Lock()
	defer m.limitsMu.Unlock()
	var cur []Limit
	if p := m.limits.Load(); p != nil {
		cur = *p
	}
	for i, x := range cur {
		if x == l {
			return i, nil
		}
	}
	if len(cur) == MaxLimits {
		return 0, fmt.Errorf("limit: burst %d per %v: %w (max %d)", l.Burst, l.Period, ErrTooManyLimits, MaxLimits)
	}
	next := append(cur[:len(cur):len(cur)], l)
	m.limits.Store(&next)
	return len(cur), nil
}

// sketchOf returns the sketch of class c, or nil if nothing was folded.
func (m *Memory) sketchOf(c int) *sketch {
	return m.sketches[c].Load()
}

// fold folds an evicted key of class c into the class's sketch, creating
// the sketch on first use.
func (m *Memory) fold(c int, h uint64, tat int64) {
	sk := m.sketches[c].Load()
	if sk == nil {
		m.sketches[c].CompareAndSwap(nil, new(sketch))
		sk = m.sketches[c].Load()
	}
	sk.fold(h, tat)
}

// shard returns the shard that holds hash h.
func (m *Memory) shard(h uint64) *shard {
	return &m.shards[h>>(64-6)]
}

// lock locks the shards holding ks, each once, in ascending index order,
// and records now in each. It returns the set of locked shards for unlock.
func (m *Memory) lock(ks []slot, now int64) uint64 {
	var mask uint64
	for _, k := range ks {
		mask |= 1 << (k.hash >> (64 - 6))
	}
	for rest := mask; rest != 0; rest &= rest - 1 {
		s := &m.shards[bits.TrailingZeros64(rest)]
		s.mu.Lock()
		s.lastNow = max(s.lastNow, now)
	}
	return mask
}

// unlock unlocks the shards in mask.
func (m *Memory) unlock(mask uint64) {
	for ; mask != 0; mask &= mask - 1 {
		m.shards[bits.TrailingZeros64(mask)].mu.Unlock()
	}
}

// currentLocked returns the TAT request i starts from: the result of an
// earlier request for the same key in this Reserve, else the table, else
// the sketch's estimate. It requires the shard of ks[i] to be locked.
func (m *Memory) currentLocked(ks []slot, tats []int64, i int) int64 {
	k := ks[i]
	for j := i - 1; j >= 0; j-- {
		if ks[j] == k {
			return tats[j]
		}
	}
	if tat, ok := m.shard(k.hash).tats[k.class][k.hash]; ok {
		return tat
	}
	if sk := m.sketchOf(k.class); sk != nil {
		return m.unlocked.forgive(k, sk.estimate(k.hash))
	}
	return math.MinInt64
}

// putLocked stores tat for k, making room first if k is new and the shard
// is full. It requires s.mu held.
func (s *shard) putLocked(k slot, tat, now int64, m *Memory) {
	t := s.tats[k.class]
	if t == nil {
		t = make(map[uint64]int64)
		s.tats[k.class] = t
	}
	if _, ok := t[k.hash]; !ok {
		if s.n >= m.shardCap {
			s.evictLocked(now, m)
		}
		s.n++
		s.sinceSweep++
	}
	t[k.hash] = tat
}

// evictLocked removes at least one entry from a full shard without
// forgiving any penalty (see Memory). It requires s.mu held.
func (s *shard) evictLocked(now int64, m *Memory) {
	if s.sinceSweep >= max(m.shardCap/4, 1) {
		s.sinceSweep = 0
		for _, t := range s.tats {
			for h, tat := range t {
				if tat <= now {
					delete(t, h)
					s.n--
				}
			}
		}
		if s.n < m.shardCap {
			return
		}
	}
	// Sample the largest partition: under a flood that is the flood's.
	c := 0
	for i := range s.tats {
		if len(s.tats[i]) > len(s.tats[c]) {
			c = i
		}
	}
	t := s.tats[c]
	// Map iteration starts at a random position, so this inspects a
	// random run of entries.
	var victim uint64
	oldest := int64(math.MaxInt64)
	n := 0
	for h, tat := range t {
		if tat <= now {
			delete(t, h) // idle: exact to forget
			s.n--
			return
		}
		if tat < oldest {
			victim, oldest = h, tat
		}
		if n++; n == evictionSamples {
			break
		}
	}
	delete(t, victim)
	s.n--
	m.fold(c, victim, oldest)
}

// containsForTest reports whether key, under limit l, is in the table.
func (m *Memory) containsForTest(key string, l Limit) bool {
	c, err := m.class(l)
	if err != nil {
		return false
	}
	h := maphash.String(m.seed, key)
	s := m.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.tats[c][h]
	return ok
}

var _ Store = (*Memory)(nil)
