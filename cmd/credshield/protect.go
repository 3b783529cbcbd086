package main

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/credshield/credshield/internal/config"
	gateway "github.com/credshield/credshield/internal/protect"
)

func newProtectCmd(e *env) *cobra.Command {
	cfg := config.DefaultProtect()
	var kek config.KEK
	cmd := &cobra.Command{
		Use:   "protect --upstream URL",
		Short: "Guard an existing app's own login endpoint as a reverse proxy",
		Long: `Run a reverse proxy in front of an existing app (--upstream) that puts the
guard before the app's own login endpoint, without changing the app.
--profile names the login API the app serves: fastapi (an OAuth2 password
form or JSON at --login-path), authelia (POST /api/firstfactor), kratos
(POST /self-service/login, API and browser flows), keycloak (the direct
grant and login form of each --realm), gotrue (Supabase Auth's password
grant) or custom (described in a YAML file, --profile-file); repeat it when
one upstream serves several. A login is checked by the guard before the
app sees it: refused attempts get a 429 or a challenge, written the way the
app's own clients read them (fastapi: serve's challenge_required and 429; a
browser's form post: a page that says when to retry), and the app's answer settles
the attempt. A success is read from the answer's token or session cookie,
never from its status alone.
A POST to another spelling of a login path that the app's router might send
to its login (/TOKEN, /token/, /token;jsessionid=1, /token.json...) is
refused with 400 and never reaches the app: send logins to the exact path.
A successful login earns a device credential (the __Host- cookie, and the
` + gateway.DeviceHeader + ` response header for API clients to send back).
A browser that posts an HTML login form while it must be challenged gets a
page that solves the challenge and signs in by itself (served with the
solver under --assets-prefix; an empty prefix turns it off); scripts and
API clients posting the same form get the challenge as before.
Everything else passes through untouched but for the forwarding headers:
the client address (read from --client-ip-header only when a
--trusted-proxies peer sent it) goes to the app in the one header its
profile reads (X-Forwarded-For, replaced whole; True-Client-IP for kratos;
--rate-limit-header for gotrue), and every other header naming an address
is removed.

Device and challenge keys, and the key that seals a form on the challenge
page, live in --data-dir/secrets; with a key-encryption key (CREDSHIELD_KEK or
--kek-file) they live sealed in the --db store instead,
so several proxies on one PostgreSQL accept each other's device credentials
and challenges. --guard-store shares the budgets between several proxies. Every flag can also be set as
CREDSHIELD_<FLAG> (for example CREDSHIELD_UPSTREAM) or as a key of the
--config file (upstream: http://127.0.0.1:8000); --tls-cert and --tls-key
make the proxy speak HTTPS and HTTP/2 itself.`,
		Args: cobra.NoArgs,
		// PreRunE is the whole check of the settings, which
		// `config check` runs without starting anything.
		PreRunE: func(*cobra.Command, []string) error {
			cfg.DataDir = e.dataDir
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return protect(cmd.Context(), e, cfg, kek)
		},
	}
	cfg.RegisterFlags(cmd.Flags())
	kek.RegisterFlags(cmd.Flags())
	return cmd
}

// protect runs the proxy until ctx (the command's: SIGINT or SIGTERM end
// it) ends, then drains in-flight requests.
func protect(ctx context.Context, e *env, cfg config.Protect, kek config.KEK) error {
	log, err := e.logger()
	if err != nil {
		return err
	}
	ring, err := loadKeyring(kek, e.lookupEnv, e.db)
	if err != nil {
		return err
	}
	sec := newSecrets(cfg.DataDir, nil, nil)
	if ring != nil {
		// The proxy keeps no accounts: the store holds only the sealed
		// device and challenge keys every proxy shares.
		st, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		sec = newSecrets(cfg.DataDir, st, ring)
		log.Info("device and challenge keys sealed in the store", "kek", ring.Current().ID())
	}
	d, err := newDefence(ctx, cfg.Defence, sec, log)
	if err != nil {
		return err
	}
	defer d.close()
	go d.guard.Run(ctx) // the attack detector's exchange with the other replicas, until ctx ends
	page, err := challengePage(ctx, cfg.AssetsPrefix, sec, d.state.challengeReplay)
	if err != nil {
		return err
	}
	proxy, err := gateway.New(gateway.Config{
		Upstream:             cfg.UpstreamURL,
		Profiles:             cfg.LoginProfiles,
		UniformFailureTiming: cfg.UniformFailureTiming,
		FailureFloor:         cfg.FailureFloor,
		DeviceCookieSameSite: cfg.DeviceCookieSameSite,
		LoginFormOrigins:     cfg.LoginFormOrigins,
	}, gateway.Deps{
		Guard: d.guard, Devices: d.devices, Challenges: d.challenges, Hasher: d.pool,
		ClientIP: d.clientIP, Log: log, Metrics: d.metrics, Page: page,
	})
	if err != nil {
		return err
	}
	if cfg.MetricsListen != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsListen, d.reg, cfg.Pprof, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	hs := proxy.HTTPServer(cfg.Listen)
	if err := serveAssets(hs, cfg.AssetsPrefix); err != nil {
		return err
	}
	served, err := startServing(hs, ln, cfg.TLS, log)
	if err != nil {
		return err
	}
	var logins []string
	for _, prof := range cfg.LoginProfiles {
		for _, r := range prof.Logins {
			logins = append(logins, r.Path+" ("+prof.Name+")")
		}
	}
	log.InfoContext(ctx, "protecting", "listen", ln.Addr().String(), "scheme", cfg.Scheme(), "upstream", cfg.UpstreamURL.Redacted(), "profiles", cfg.Profiles, "login_paths", logins)
	fmt.Fprintf(e.stdout, "credshield is protecting %s on %s (%s) — guarded logins: POST %s\n", cfg.UpstreamURL.Redacted(), ln.Addr(), cfg.Scheme(), strings.Join(logins, ", "))

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		return drain(hs, served, cfg.ShutdownTimeout, log)
	}
}
