package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the server's Prometheus collectors. They are registered on
// the Registerer given to NewMetrics — never the global registry — so tests
// and several servers in one process do not collide. A nil *Metrics records
// nothing.
type Metrics struct {
	attempts     *prometheus.CounterVec
	verdicts     *prometheus.CounterVec
	hashDuration prometheus.Histogram
}

// Login attempt outcomes, the values of the outcome label.
const (
	outcomeSuccess     = "success"
	outcomeFailure     = "failure"
	outcomeDenied      = "denied"
	outcomeUnavailable = "unavailable"
	outcomeInvalid     = "invalid_request"
)

// NewMetrics creates and registers the server's collectors on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credshield_login_attempts_total",
			Help: "Password-grant attempts at POST /token, by outcome: success, failure (wrong credentials), denied (guard), unavailable (503), invalid_request.",
		}, []string{"outcome"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credshield_guard_verdicts_total",
			Help: "Guard decisions, by verdict (allow, deny) and the budget that denied (ip, subnet, subnet48, user, user_ip).",
		}, []string{"verdict", "reason"}),
		hashDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "credshield_password_verify_seconds",
			Help:    "Time one password verification takes in the hasher pool, excluding the wait for a worker.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5},
		}),
	}
	for _, c := range []prometheus.Collector{m.attempts, m.verdicts, m.hashDuration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, o := range []string{outcomeSuccess, outcomeFailure, outcomeDenied, outcomeUnavailable, outcomeInvalid} {
		m.attempts.WithLabelValues(o)
	}
	return m, nil
}

func (m *Metrics) attempt(outcome string) {
	if m != nil {
		m.attempts.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) verdict(allowed bool, reason string) {
	if m == nil {
		return
	}
	v := "allow"
	if !allowed {
		v = "deny"
	}
	m.verdicts.WithLabelValues(v, reason).Inc()
}

func (m *Metrics) observeHash(seconds float64) {
	if m != nil {
		m.hashDuration.Observe(seconds)
	}
}
