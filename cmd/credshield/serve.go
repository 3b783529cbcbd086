package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/credshield/credshield/dpop"
	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/device"
	"github.com/credshield/credshield/internal/gate"
	"github.com/credshield/credshield/internal/password"
	"github.com/credshield/credshield/internal/server"
	"github.com/credshield/credshield/token"
)

func newServeCmd(e *env) *cobra.Command {
	cfg := config.Default()
	var kek config.KEK
	adm := config.DefaultAdmin()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve logins and tokens (POST /token, GET /users/me, JWKS)",
		Long: `Serve the token service. By default everything lives in --data-dir, created
on first start: a SQLite database, signing keys and HMAC secrets. --db
postgres://... keeps accounts, refresh tokens and revocations in PostgreSQL
instead, shared by every replica. With a key-encryption key (CREDSHIELD_KEK,
or --kek-file) signing keys and HMAC secrets live sealed in the store too, so
replicas share them; PostgreSQL requires one. Every flag can also be set as
CREDSHIELD_<FLAG> (for example CREDSHIELD_ISSUER) or as a key of the
--config file (issuer: https://login.example.com); docs/config.example.yaml
is an annotated example. --tls-cert and --tls-key serve HTTPS and HTTP/2,
re-reading the certificate when its files change.`,
		Args: cobra.NoArgs,
		// PreRunE is the whole check of the settings, which
		// `config check` runs without starting anything.
		PreRunE: func(*cobra.Command, []string) error {
			cfg.DataDir = e.dataDir
			cfg.DB = e.db
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			if err := adm.Validate(cfg.Listen, cfg.MetricsListen); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), e, cfg, kek, adm)
		},
	}
	cfg.RegisterFlags(cmd.Flags())
	kek.RegisterFlags(cmd.Flags())
	adm.RegisterFlags(cmd.Flags())
	return cmd
}

// serve wires the concrete parts together and runs until ctx (the
// command's: SIGINT or SIGTERM end it) ends, then drains in-flight
// requests. Each part is built by a function that takes what it needs and
// returns what it builds, so the order below is the order of the data: the
// keyring decides where keys and secrets live, the store holds them, and
// the defence takes the secrets.
func serve(ctx context.Context, e *env, cfg config.Serve, kek config.KEK, adm config.Admin) error {
	log, err := e.logger()
	if err != nil {
		return err
	}
	ring, err := loadKeyring(kek, e.lookupEnv, cfg.DB)
	if err != nil {
		return err
	}
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	keySrc, err := keySource(ctx, e.keysDir(), st, ring, log)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	sec := newSecrets(cfg.DataDir, st, ring)
	if ring != nil {
		log.Info("keys and secrets sealed in the store", slog.String("kek", ring.Current().ID()))
	}
	keys, err := token.LoadOrCreate(ctx, keySrc, cfg.SigningAlg, rand.Reader, time.Now())
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if err := maintainKeys(ctx, keys, keySrc, cfg, time.Now(), log); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	screen, err := e.passwordScreener(ctx, st, func(msg string) { log.Warn(msg) })
	if err != nil {
		return fmt.Errorf("password screening: %w", err)
	}
	defer closeScreener(screen)
	d, err := newDefence(ctx, cfg.Defence, sec, log)
	if err != nil {
		return err
	}
	defer d.close()
	go d.guard.Run(ctx) // the attack detector's exchange with the other replicas, until ctx ends
	reg, gs, metrics, g := d.reg, d.state, d.metrics, d.guard
	pool, devices, challenges, resolver := d.pool, d.devices, d.challenges, d.clientIP
	checker, err := dpopChecker(ctx, cfg, sec, gs.dpopReplay)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	cfg.BindIssuer(ln.Addr().String())
	srv, err := server.New(ctx, server.Config{
		Issuer:                 cfg.Issuer,
		Audience:               cfg.Audience,
		AccessTTL:              cfg.AccessTTL,
		Leeway:                 cfg.Leeway,
		CORSOrigins:            cfg.CORSOrigins,
		AllowedScopes:          cfg.AllowedScopes,
		Argon:                  cfg.Argon,
		FailureFloor:           cfg.FailureFloor,
		DeviceCookieSameSite:   cfg.DeviceCookieSameSite,
		RequireDPoP:            cfg.RequireDPoP,
		PasswordMinLength:      cfg.MinLength,
		ResourceURL:            cfg.ResourceURL,
		RefreshTTL:             cfg.RefreshTTL,
		RefreshIdleTTL:         cfg.RefreshIdleTTL,
		RefreshFamiliesPerUser: cfg.RefreshFamiliesPerUser,
	}, server.Deps{
		Users: st, Keys: keys, Hasher: pool, Guard: g, Devices: devices, Challenges: challenges,
		ClientIP: resolver, Log: log, Metrics: metrics, DPoP: checker, Refresh: st, Revocations: st,
		GuardDegraded: gs.degraded, Screening: st, Screen: screen, Passwords: st,
	})
	if err != nil {
		return err
	}
	if cfg.MetricsListen != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsListen, reg, cfg.Pprof, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	adminAddr, stopAdmin, err := serveAdmin(adm, cfg.DataDir, g, e.lookupEnv, log)
	if err != nil {
		return err
	}
	defer stopAdmin()
	hs := srv.HTTPServer(cfg.Listen)
	if err := serveAssets(hs, cfg.AssetsPrefix); err != nil {
		return err
	}
	served, err := startServing(hs, ln, cfg.TLS, log)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "serving", "listen", ln.Addr().String(), "scheme", cfg.Scheme(), "issuer", cfg.Issuer, "signing_alg", cfg.SigningAlg, "kid", keys.Active().ID)
	fmt.Fprintf(e.stdout, "credshield is serving %s — add a user with: %s\n", servingWhat(cfg.TLS, cfg.Issuer, ln.Addr()), addUserHint(e, cfg.DB))
	if adminAddr != "" {
		fmt.Fprintf(e.stdout, "admin listener on %s — see lockouts with: credshield guard status --data-dir %s\n", adminAddr, e.dataDir)
	}

	refresh := time.NewTicker(time.Minute)
	defer refresh.Stop()
	reloadKeys := time.NewTicker(keyReloadInterval)
	defer reloadKeys.Stop()
	var lastKeyWarn time.Time
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP) // reload keys now
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			log.InfoContext(ctx, "SIGHUP: reloading signing keys")
			if err := maintainKeys(ctx, keys, keySrc, cfg, time.Now(), log); err != nil {
				log.WarnContext(ctx, "signing keys", "error", err.Error())
			}
		case <-reloadKeys.C:
			// A store that is down fails every reload: warn every
			// keyWarnEvery, not four times a second.
			if err := maintainKeys(ctx, keys, keySrc, cfg, time.Now(), log); err != nil && time.Since(lastKeyWarn) >= keyWarnEvery {
				lastKeyWarn = time.Now()
				log.WarnContext(ctx, "signing keys", "error", err.Error())
			}
		case err := <-served:
			return fmt.Errorf("serve: %w", err)
		case <-refresh.C:
			if err := srv.RefreshFloor(ctx); err != nil {
				log.WarnContext(ctx, "failure floor refresh", "error", err.Error())
			}
			if _, err := st.PurgeExpired(ctx, time.Now()); err != nil {
				log.WarnContext(ctx, "purge expired tokens", "error", err.Error())
			}
		case <-ctx.Done():
			return drain(hs, served, cfg.ShutdownTimeout, log)
		}
	}
}

// newMetrics registers the server's collectors and gauges over the hasher
// pool and the guard store on reg.
func newMetrics(reg *prometheus.Registry, pool *password.Pool, gs *guardState, extra ...prometheus.Collector) (*gate.Metrics, error) {
	m, err := gate.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	gauges := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "credshield_hasher_queue_depth", Help: "Login attempts waiting for a password hasher."},
			func() float64 { return float64(pool.Queued()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "credshield_hasher_running", Help: "Password hashes being computed now."},
			func() float64 { return float64(pool.Running()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "credshield_guard_tracked_keys", Help: "Keys the in-memory guard store tracks (capped by --guard-max-keys); with --guard-store, the local fallback's."},
			func() float64 { n, _ := gs.local.Stats(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "credshield_guard_sketch_fill", Help: "Share of the fullest eviction sketch's cells still holding a penalty (0..1); near 1, new keys start out penalised."},
			func() float64 { _, f := gs.local.Stats(); return f }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if gs.knownLen != nil {
		gauges = append(gauges, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "credshield_guard_known_networks", Help: "(user, network) pairs remembered as known networks."},
			func() float64 { return float64(gs.knownLen()) }))
	}
	gauges = append(gauges, extra...)
	for _, c := range gauges {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

// serveMetrics serves /metrics on its own listener, apart from the public
// API, and returns a function that stops it. With pprof it also serves Go's
// profiles there (/debug/pprof/), never on the public listener.
func serveMetrics(addr string, reg *prometheus.Registry, pprof bool, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	writeTimeout := 30 * time.Second
	if pprof {
		mux.HandleFunc("GET /debug/pprof/", httppprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", httppprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", httppprof.Trace)
		// A CPU profile or trace streams for ?seconds=N (up to a
		// minute, say); the write timeout must outlast it.
		writeTimeout = 5 * time.Minute
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: writeTimeout, IdleTimeout: 90 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "error", err.Error())
		}
	}()
	log.Info("serving metrics", "listen", ln.Addr().String())
	return func() { _ = hs.Close() }, nil
}

// adaptiveParts builds the device-credential and challenge issuers from
// the HMAC keys sec holds (data-directory files, or sealed in the shared
// store), so credentials and challenges survive a restart and, shared, are
// accepted by every replica.
func adaptiveParts(ctx context.Context, cfg config.Defence, sec secrets, replay challenge.ReplayCache) (*device.Issuer, *challenge.Issuer, error) {
	dkey, err := sec.load(ctx, "device.key")
	if err != nil {
		return nil, nil, err
	}
	devices, err := device.NewIssuer(dkey, cfg.DeviceLifetime)
	if err != nil {
		return nil, nil, err
	}
	ckey, err := sec.load(ctx, "challenge.key")
	if err != nil {
		return nil, nil, err
	}
	challenges, err := challenge.NewIssuer(ckey, challenge.Config{}, replay)
	if err != nil {
		return nil, nil, err
	}
	return devices, challenges, nil
}

// dpopNoncePeriod is how often the DPoP server nonce changes; a nonce is
// accepted for one to two periods.
const dpopNoncePeriod = 5 * time.Minute

// dpopChecker builds the DPoP proof checker: the given replay cache (Redis
// with --guard-store; nil means dpop's in-memory one), and with --dpop-nonce
// a nonce source keyed from sec like adaptiveParts' issuers, so nonces
// survive a restart and every replica accepts them.
func dpopChecker(ctx context.Context, cfg config.Serve, sec secrets, replay dpop.ReplayCache) (*dpop.Checker, error) {
	dcfg := dpop.Config{Replay: replay}
	if cfg.DPoPNonce {
		key, err := sec.load(ctx, "dpop-nonce.key")
		if err != nil {
			return nil, err
		}
		if dcfg.Nonces, err = dpop.NewNonceSource(key, dpopNoncePeriod); err != nil {
			return nil, fmt.Errorf("dpop nonces: %w", err)
		}
	}
	c, err := dpop.NewChecker(dcfg)
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	return c, nil
}
