package gatetest

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/credshield/credshield/internal/guard"
)

// Attempts returns every attempt counter on reg, keyed "metric outcome".
func Attempts(t testing.TB, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// The counters a settled reservation (or a refusal) counts in, one
	// per gate.Kind that counts.
	attemptMetrics := []string{"credshield_login_attempts_total", "credshield_refresh_attempts_total"}
	out := make(map[string]float64)
	for _, f := range families {
		if !slices.Contains(attemptMetrics, f.GetName()) {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					out[f.GetName()+" "+l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// CheckCounted fails t unless, between the snapshots before and after,
// the counter want ("metric outcome") grew by exactly one and no other
// attempt counter moved.
func CheckCounted(t testing.TB, before, after map[string]float64, want string) {
	t.Helper()
	if _, ok := after[want]; !ok {
		t.Errorf("no counter %q", want)
	}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		d := after[k] - before[k]
		switch {
		case k == want && d != 1:
			t.Errorf("%s grew by %v, want 1", k, d)
		case k != want && d != 0:
			t.Errorf("%s grew by %v, want 0 (only %s counts)", k, d, want)
		}
	}
}

// CheckSettledOnce waits until as many outcomes were recorded as
// reservations were granted (at most five seconds: a client that went
// away is settled by the handler after the client returned), lets any
// second settlement show, and fails t unless exactly admitted
// reservations were granted since the last Reset and each was settled
// once, the last with want.
func (c *CountingGuard) CheckSettledOnce(t testing.TB, admitted int, want guard.Outcome) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, outcomes := c.Settled()
		if len(outcomes) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	n, outcomes := c.Settled()
	if n != admitted || len(outcomes) != admitted {
		t.Fatalf("%d reservations granted, %d settled (%v); want %d, each settled once", n, len(outcomes), outcomes, admitted)
	}
	if admitted > 0 && outcomes[len(outcomes)-1] != want {
		t.Errorf("settled %v, want %v", outcomes, want)
	}
}
