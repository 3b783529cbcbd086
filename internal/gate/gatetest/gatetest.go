// Package gatetest builds the login gate's real parts for the tests of
// its two users, the token service (package server) and the gateway
// (package protect): an in-memory guard, device and challenge issuers, a
// hasher pool, a client address resolver and metrics on their own
// registry; a JSON log collector; and a guard wrapper that counts how
// reservations are settled.
package gatetest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/clientip"
	"github.com/credshield/credshield/internal/device"
	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
	"github.com/credshield/credshield/internal/password"
)

// Hasher is the hasher pool as the token service uses it.
type Hasher interface {
	Do(ctx context.Context, fn func()) error
	DoFirst(ctx context.Context, key string, fn func()) error
}

// Config chooses the parts; the zero value is a pool of one worker with no
// queue and a guard with a zero policy (set Policy).
type Config struct {
	Workers, Queue int
	Policy         guard.Policy
	Trusted        []netip.Prefix
	Hasher         func(Hasher) Hasher // wraps the pool, e.g. to count calls
	Detector       *guard.DetectorConfig
	ReplayCapacity int    // challenge replay cache; 0 = 4096
	ClientIPHeader string // "" is X-Forwarded-For
	// CountSettles wraps the guard in a CountingGuard (Parts.Counting).
	CountSettles bool
}

// Parts are the gate's parts, built alike for the token service and the
// gateway.
type Parts struct {
	Pool       *password.Pool
	Hasher     Hasher
	Guard      *guard.Guard
	Devices    *device.Issuer
	Challenges *challenge.Issuer
	Resolver   *clientip.Resolver
	Metrics    *gate.Metrics
	Reg        *prometheus.Registry
	// Counting wraps Guard when Config.CountSettles is set; nil otherwise.
	Counting *CountingGuard
}

// GateGuard is the guard to give the gate: Counting when it is set, else
// Guard.
func (p Parts) GateGuard() gate.Guard {
	if p.Counting != nil {
		return p.Counting
	}
	return p.Guard
}

// New builds Parts from c.
func New(t testing.TB, c Config) Parts {
	t.Helper()
	pool := password.NewPool(c.Workers, c.Queue)
	var hasher Hasher = pool
	if c.Hasher != nil {
		hasher = c.Hasher(pool)
	}
	limits, err := limit.NewMemory(limit.MemoryConfig{MaxKeys: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	metrics, err := gate.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	gcfg := guard.Config{Store: limits, Policy: c.Policy, Known: guard.NewMemoryKnownNetworks(1 << 16), OnAttackChange: func(st guard.DetectorState) { metrics.UnderAttack(st.UnderAttack) }}
	if c.Detector != nil {
		if gcfg.Detector, err = guard.NewDetector(*c.Detector); err != nil {
			t.Fatal(err)
		}
	}
	g, err := guard.New(gcfg)
	if err != nil {
		t.Fatal(err)
	}
	devices, err := device.NewIssuer(bytes.Repeat([]byte{7}, 32), 0)
	if err != nil {
		t.Fatal(err)
	}
	replay, err := challenge.NewMemoryReplay(cmp.Or(c.ReplayCapacity, 1<<12))
	if err != nil {
		t.Fatal(err)
	}
	challenges, err := challenge.NewIssuer(bytes.Repeat([]byte{9}, 32), challenge.Config{}, replay)
	if err != nil {
		t.Fatal(err)
	}
	resolver, err := clientip.NewResolver(c.Trusted, c.ClientIPHeader)
	if err != nil {
		t.Fatal(err)
	}
	parts := Parts{Pool: pool, Hasher: hasher, Guard: g, Devices: devices, Challenges: challenges, Resolver: resolver, Metrics: metrics, Reg: reg}
	if c.CountSettles {
		parts.Counting = &CountingGuard{Guard: g}
	}
	return parts
}

// Unlimited is a guard policy that never binds, for tests about other
// things.
func Unlimited() guard.Policy {
	l := limit.Limit{Burst: 1 << 30, Period: time.Hour}
	return guard.Policy{IP: l, IPSoft: l, Subnet: l, Subnet48: l, User: l, UserHard: l, UserIP: l, Device: l, Network: l, Success: l,
		KnownNetworkTTL: 30 * 24 * time.Hour, Difficulty: 2, AttackDifficulty: 3}
}

// Value returns the value of the counter or gauge name with exactly the
// label values labels (name, value pairs) on reg; 0 when absent.
func Value(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if matches(m, labels) {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func matches(m *dto.Metric, labels []string) bool {
	if len(m.GetLabel())*2 != len(labels) {
		return false
	}
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// LogBuffer collects JSON log lines for tests that look for a security
// event. It is safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Events returns the records whose msg is name.
func (b *LogBuffer) Events(name string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(b.buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && m["msg"] == name {
			out = append(out, m)
		}
	}
	return out
}

// MappedPeerCases are the peers and trusted prefixes every "is the peer a
// trusted proxy" caller must agree on: IPv4-mapped IPv6 peers and prefixes
// compare as the IPv4 they map (clientip.Resolver.PeerTrusted).
var MappedPeerCases = []struct {
	Name    string
	Trusted string
	Peer    string
	Want    bool
}{
	{"mapped peer, IPv4 prefix", "127.0.0.0/8", "[::ffff:127.0.0.1]:1234", true},
	{"IPv4 peer, mapped prefix", "::ffff:127.0.0.0/104", "127.0.0.1:1234", true},
	{"mapped peer, mapped prefix", "::ffff:127.0.0.1/128", "[::ffff:127.0.0.1]:1234", true},
	{"mapped peer outside the prefix", "127.0.0.0/8", "[::ffff:192.0.2.1]:1234", false},
	{"IPv4 peer, no trusted proxies", "", "127.0.0.1:1234", false},
}
