package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/clientip"
	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/device"
	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/password"
)

// defence is the login defence as serve and protect build it from the
// same settings (config.Defence): the guard over its store, the
// device-credential and challenge issuers, the client address resolver,
// the bounded hasher pool, and the metrics registry they report to. Call
// close when done: it stops what the defence runs in the background.
type defence struct {
	pool       *password.Pool
	reg        *prometheus.Registry
	state      *guardState
	metrics    *gate.Metrics
	guard      *guard.Guard
	devices    *device.Issuer
	challenges *challenge.Issuer
	clientIP   *clientip.Resolver
}

// newDefence builds the defence from cfg, with the HMAC keys of device
// credentials and challenges from sec; on error nothing is left open.
// Whatever the defence runs in the background (the guard store's watch of
// Redis; any other background work of the guard belongs here too) is
// started from ctx, the command's context, and stopped by close.
func newDefence(ctx context.Context, cfg config.Defence, sec secrets, log *slog.Logger) (_ *defence, err error) {
	d := &defence{pool: password.NewPool(cfg.HasherWorkers, cfg.HasherQueue), reg: prometheus.NewRegistry()}
	degradedGauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "credshield_guard_store_degraded",
		Help: "1 while --guard-store (Redis) is unreachable and this replica decides on divided local budgets.",
	})
	if d.state, err = newGuardState(ctx, cfg, log, func(on bool) { degradedGauge.Set(map[bool]float64{false: 0, true: 1}[on]) }); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = d.state.close()
		}
	}()
	if d.metrics, err = newMetrics(d.reg, d.pool, d.state, degradedGauge); err != nil {
		return nil, err
	}
	cfg.Detector.Shared = d.state.detectorCounts // every replica's failures, with --guard-store
	detector, err := guard.NewDetector(cfg.Detector)
	if err != nil {
		return nil, usageError{err}
	}
	d.guard, err = guard.New(guard.Config{
		Store:        d.state.budgets,
		Policy:       cfg.Guard,
		Known:        d.state.known,
		KnownReserve: d.state.knownReserve,
		Detector:     detector,
		Degraded:     d.state.degraded,
		Admin:        d.state.admin,
		OnAttackChange: func(st guard.DetectorState) {
			d.metrics.UnderAttack(st.UnderAttack)
			log.Warn("guard.attack", "under_attack", st.UnderAttack, "failures_per_minute", st.Failures,
				"unknown_usernames_per_minute", st.Unknown, "baseline_per_minute", fmt.Sprintf("%.1f", st.Baseline))
		},
	})
	if err != nil {
		return nil, err
	}
	if d.devices, d.challenges, err = adaptiveParts(ctx, cfg, sec, d.state.challengeReplay); err != nil {
		return nil, err
	}
	if d.clientIP, err = clientip.NewResolver(cfg.TrustedProxies, cfg.ClientIPHeader); err != nil {
		return nil, usageError{fmt.Errorf("--client-ip-header: %w", err)}
	}
	return d, nil
}

func (d *defence) close() error { return d.state.close() }

// drain stops hs after SIGINT or SIGTERM: in-flight requests get timeout
// to finish, then served (the result of hs.Serve) is collected. Its
// deadline starts from a fresh context: the command's has ended by now.
func drain(hs *http.Server, served <-chan error, timeout time.Duration, log *slog.Logger) error {
	log.Info("shutting down", "timeout", timeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
