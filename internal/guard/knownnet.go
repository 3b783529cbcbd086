package guard

import (
	"context"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// MemoryKnownNetworks is a bounded in-memory KnownNetworks: 16 bytes of
// state per (user, network) pair, keyed by a seeded hash. When full it
// drops expired pairs first, then arbitrary ones: forgetting a known
// network only costs its user a challenge or the shared budget, never
// security. The zero value is not usable; build it with
// NewMemoryKnownNetworks. Safe for concurrent use.
type MemoryKnownNetworks struct {
	seed maphash.Seed
	max  int

	mu    sync.Mutex
	until map[uint64]int64 // pair hash -> unix nanoseconds; requires mu held
}

var _ KnownNetworks = (*MemoryKnownNetworks)(nil)

// NewMemoryKnownNetworks returns a store that keeps at most max pairs.
func NewMemoryKnownNetworks(max int) *MemoryKnownNetworks {
	return &MemoryKnownNetworks{seed: maphash.MakeSeed(), max: max, until: make(map[uint64]int64)}
}

func (m *MemoryKnownNetworks) key(username string, network netip.Prefix) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(username)
	h.WriteByte(0)
	a := network.Addr().As16()
	h.Write(a[:])
	h.WriteByte(byte(network.Bits()))
	return h.Sum64()
}

// Known reports whether username logged in from network before now's
// expiry of that memory.
func (m *MemoryKnownNetworks) Known(_ context.Context, now time.Time, username string, network netip.Prefix) (bool, error) {
	k := m.key(username, network)
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.until[k]
	return ok && now.UnixNano() < u, nil
}

// Remember makes network known for username until the given time.
func (m *MemoryKnownNetworks) Remember(_ context.Context, now time.Time, username string, network netip.Prefix, until time.Time) error {
	k := m.key(username, network)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.until[k]; !ok && len(m.until) >= m.max {
		m.makeRoomLocked(now)
	}
	if u := until.UnixNano(); u > m.until[k] {
		m.until[k] = u
	}
	return nil
}

// makeRoomLocked removes expired pairs, or, when none expired, one pair
// in ten. Requires m.mu held.
func (m *MemoryKnownNetworks) makeRoomLocked(now time.Time) {
	t := now.UnixNano()
	for k, u := range m.until {
		if u <= t {
			delete(m.until, k)
		}
	}
	if len(m.until) < m.max {
		return
	}
	drop := max(m.max/10, 1)
	for k := range m.until {
		delete(m.until, k)
		if drop--; drop == 0 {
			break
		}
	}
}

// Len returns how many pairs are held.
func (m *MemoryKnownNetworks) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.until)
}
