package gate

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/credshield/credshield/internal/guard"
)

// Metrics are the login defence's Prometheus collectors, shared by the
// token service and the gateway. They are registered on
// the Registerer given to NewMetrics — never the global registry — so tests
// and several servers in one process do not collide. A nil *Metrics records
// nothing.
type Metrics struct {
	attempts     *prometheus.CounterVec // password grants and guarded logins
	refreshes    *prometheus.CounterVec // refresh_token grants
	verdicts     *prometheus.CounterVec
	challenges   *prometheus.CounterVec
	devices      *prometheus.CounterVec
	attack       prometheus.Gauge
	hashDuration prometheus.Histogram
}

// Login attempt outcomes, the values of the outcome label.
const (
	outcomeSuccess     = "success"
	outcomeFailure     = "failure"
	outcomeDenied      = "denied"
	outcomeChallenged  = "challenged"
	outcomeUnavailable = "unavailable"
	outcomeInvalid     = "invalid_request"
)

// NewMetrics creates and registers the collectors on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credshield_login_attempts_total",
			Help: "Login attempts (password grants at POST /token, logins through protect), by outcome: success, failure (wrong credentials), denied (guard, 429), challenged (guard, challenge_required), unavailable (503), invalid_request.",
		}, []string{"outcome"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credshield_refresh_attempts_total",
			Help: "Refresh-token grants at POST /token, by outcome: success, failure (a token that cannot be redeemed), denied (guard, 429), unavailable (503), invalid_request.",
		}, []string{"outcome"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credshield_guard_verdicts_total",
			Help: "Guard decisions, by verdict (allow, deny, challenge), the budget or signal behind a refusal (ip, ip_soft, subnet, subnet48, user, user_hard, user_ip, device, network, attack, challenge) and the client's trust (untrusted, device, network).",
		}, []string{"verdict", "reason", "trust"}),
		challenges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credshield_challenges_total",
			Help: "Proof-of-work challenges, by event: issued, solved, rejected.",
		}, []string{"event"}),
		devices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credshield_device_credentials_total",
			Help: "Device credentials, by event: issued, revoked_seen (a credential revoked by a reset or disable was presented).",
		}, []string{"event"}),
		attack: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "credshield_guard_under_attack",
			Help: "1 while the attack detector says the service is under a credential-stuffing attack.",
		}),
		hashDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "credshield_password_verify_seconds",
			Help:    "Time one password verification takes in the hasher pool, excluding the wait for a worker.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5},
		}),
	}
	for _, c := range []prometheus.Collector{m.attempts, m.refreshes, m.verdicts, m.challenges, m.devices, m.attack, m.hashDuration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, o := range []string{outcomeSuccess, outcomeFailure, outcomeDenied, outcomeChallenged, outcomeUnavailable, outcomeInvalid} {
		m.attempts.WithLabelValues(o)
		if o != outcomeChallenged {
			m.refreshes.WithLabelValues(o)
		}
	}
	return m, nil
}

// attempt counts one attempt of kind k; ResourceProof counts none.
func (m *Metrics) attempt(k Kind, outcome string) {
	if m == nil {
		return
	}
	switch k {
	case Login:
		m.attempts.WithLabelValues(outcome).Inc()
	case Refresh:
		m.refreshes.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) verdict(v guard.Verdict) {
	if m == nil {
		return
	}
	kind := "allow"
	switch {
	case v.Challenge > 0:
		kind = "challenge"
	case !v.Allowed:
		kind = "deny"
	}
	m.verdicts.WithLabelValues(kind, string(v.Reason), string(v.Trust)).Inc()
}

func (m *Metrics) challenge(event string) {
	if m != nil {
		m.challenges.WithLabelValues(event).Inc()
	}
}

// Device counts a device-credential event (issued, revoked_seen).
func (m *Metrics) Device(event string) {
	if m != nil {
		m.devices.WithLabelValues(event).Inc()
	}
}

// UnderAttack sets the detector gauge; the guard's OnAttackChange calls it.
func (m *Metrics) UnderAttack(on bool) {
	if m == nil {
		return
	}
	if on {
		m.attack.Set(1)
	} else {
		m.attack.Set(0)
	}
}

// ObserveHash records the duration of one password verification.
func (m *Metrics) ObserveHash(seconds float64) {
	if m != nil {
		m.hashDuration.Observe(seconds)
	}
}
