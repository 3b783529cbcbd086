package gate

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/device"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
	"github.com/credshield/credshield/internal/password"
)

// recordingGuard is a real guard that remembers the outcomes recorded.
type recordingGuard struct {
	*guard.Guard
	outcomes []guard.Outcome
}

func (g *recordingGuard) Record(ctx context.Context, now time.Time, v guard.Verdict, o guard.Outcome) error {
	g.outcomes = append(g.outcomes, o)
	return g.Guard.Record(ctx, now, v, o)
}

func newTestGate(t *testing.T) (*Gate, *recordingGuard, *Metrics, *bytes.Buffer) {
	t.Helper()
	limits, err := limit.NewMemory(limit.MemoryConfig{MaxKeys: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	g, err := guard.New(guard.Config{Store: limits, Policy: guard.DefaultPolicy(), Known: guard.NewMemoryKnownNetworks(1 << 10)})
	if err != nil {
		t.Fatal(err)
	}
	devices, err := device.NewIssuer(bytes.Repeat([]byte{7}, 32), 0)
	if err != nil {
		t.Fatal(err)
	}
	replay, err := challenge.NewMemoryReplay(1 << 10)
	if err != nil {
		t.Fatal(err)
	}
	chal, err := challenge.NewIssuer(bytes.Repeat([]byte{9}, 32), challenge.Config{}, replay)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMetrics(prometheus.NewPedanticRegistry())
	if err != nil {
		t.Fatal(err)
	}
	rg := &recordingGuard{Guard: g}
	logs := &bytes.Buffer{}
	gt, err := New(Deps{Guard: rg, Devices: devices, Challenges: chal, Pool: password.NewPool(1, 1),
		Log: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return gt, rg, m, logs
}

// TestSettleOnce: whatever the outcome and however often Settle is
// called, a reservation is recorded once, counted once in its kind's own
// metric under that outcome's label, and logged once under its event.
func TestSettleOnce(t *testing.T) {
	tests := []struct {
		kind    Kind
		outcome Outcome
		guard   guard.Outcome
		label   string // "" counts nothing
		event   string // "" logs nothing
	}{
		{Login, Success, guard.Success, "success", "login.success"},
		{Login, Failure, guard.Failure, "failure", "login.failure"},
		{Login, UnknownUser, guard.UnknownUser, "failure", "login.failure"},
		{Login, Aborted, guard.Aborted, "unavailable", "login.unsettled"},
		{Login, Invalid, guard.Aborted, "invalid_request", "login.unsettled"},
		{Login, Rejected, guard.Failure, "invalid_request", "login.unsettled"},
		{Login, ScopeRefused, guard.Success, "invalid_request", "login.scope_refused"},
		{Refresh, Success, guard.Success, "success", "refresh.success"},
		{Refresh, Invalid, guard.Aborted, "invalid_request", "refresh.unsettled"},
		{Refresh, Aborted, guard.Aborted, "unavailable", "refresh.unsettled"},
		{ResourceProof, Rejected, guard.Failure, "", ""},
	}
	for _, tt := range tests {
		g, rg, m, logs := newTestGate(t)
		ctx := context.Background()
		res, err := g.AdmitAddress(ctx, time.Now(), tt.kind, netip.MustParseAddr("192.0.2.1"))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Settle(tt.outcome) {
			t.Errorf("%v %v: the first Settle did not settle", tt.kind, tt.outcome)
		}
		if res.Settle(Aborted) || res.Settle(tt.outcome) {
			t.Errorf("%v %v: a later Settle settled again", tt.kind, tt.outcome)
		}
		if len(rg.outcomes) != 1 || rg.outcomes[0] != tt.guard {
			t.Errorf("%v %v: recorded %v, want [%v]", tt.kind, tt.outcome, rg.outcomes, tt.guard)
		}
		for kind, vec := range map[Kind]*prometheus.CounterVec{Login: m.attempts, Refresh: m.refreshes} {
			total := 0.0
			for _, l := range []string{outcomeSuccess, outcomeFailure, outcomeDenied, outcomeChallenged, outcomeUnavailable, outcomeInvalid} {
				total += testutil.ToFloat64(vec.WithLabelValues(l))
			}
			want := 0.0
			if kind == tt.kind && tt.label != "" {
				want = 1
				if got := testutil.ToFloat64(vec.WithLabelValues(tt.label)); got != 1 {
					t.Errorf("%v %v: %s = %v, want 1", tt.kind, tt.outcome, tt.label, got)
				}
			}
			if total != want {
				t.Errorf("%v %v: kind %v counted %v attempts, want %v", tt.kind, tt.outcome, kind, total, want)
			}
		}
		if n := strings.Count(logs.String(), `"msg":"`); (tt.event == "" && n != 0) || (tt.event != "" && (n != 1 || !strings.Contains(logs.String(), `"msg":"`+tt.event+`"`))) {
			t.Errorf("%v %v: logged %q, want one %q", tt.kind, tt.outcome, logs.String(), tt.event)
		}
	}
}

// A nil Reservation (no admission) settles nothing and does not panic,
// so a deferred Settle is safe on every path.
func TestSettleNil(t *testing.T) {
	var r *Reservation
	if r.Settle(Success) {
		t.Error("a nil reservation settled")
	}
}
