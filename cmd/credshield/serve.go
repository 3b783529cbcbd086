package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/credshield/credshield/config"
	"github.com/credshield/credshield/password"
	"github.com/credshield/credshield/server"
	"github.com/credshield/credshield/token"
)

func newServeCmd(e *env) *cobra.Command {
	cfg := config.Default()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve logins and tokens (POST /token, GET /users/me, JWKS)",
		Long: `Serve the token service on the embedded default: a SQLite database and
signing keys in --data-dir, created on first start. Every flag can also be
set as CREDSHIELD_<FLAG> (for example CREDSHIELD_ISSUER).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.DataDir = e.dataDir
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			return serve(cmd.Context(), e, cfg)
		},
	}
	cfg.RegisterFlags(cmd.Flags())
	return cmd
}

// serve wires the concrete parts together and runs until ctx ends (SIGINT
// or SIGTERM), then drains in-flight requests.
func serve(ctx context.Context, e *env, cfg config.Serve) error {
	log, err := e.logger()
	if err != nil {
		return err
	}
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := token.LoadOrCreate(e.keysDir(), cfg.SigningAlg, rand.Reader, time.Now())
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	pool := password.NewPool(cfg.HasherWorkers, cfg.HasherQueue)
	srv, err := server.New(ctx, server.Config{
		Issuer:       cfg.Issuer,
		Audience:     cfg.Audience,
		AccessTTL:    cfg.AccessTTL,
		Leeway:       cfg.Leeway,
		CORSOrigins:  cfg.CORSOrigins,
		Argon:        argonParams(cfg),
		FailureFloor: cfg.FailureFloor,
	}, st, keys, pool, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := srv.HTTPServer(cfg.Listen)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	log.InfoContext(ctx, "serving", "listen", ln.Addr().String(), "issuer", cfg.Issuer, "signing_alg", cfg.SigningAlg, "kid", keys.Active().ID)
	fmt.Fprintf(e.stdout, "credshield is serving %s on %s — add a user with: credshield user add NAME --data-dir %s\n", cfg.Issuer, ln.Addr(), e.dataDir)

	refresh := time.NewTicker(time.Minute)
	defer refresh.Stop()
	for {
		select {
		case err := <-served:
			return fmt.Errorf("serve: %w", err)
		case <-refresh.C:
			if err := srv.RefreshFloor(ctx); err != nil {
				log.WarnContext(ctx, "failure floor refresh", "error", err.Error())
			}
		case <-ctx.Done():
			log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve: %w", err)
			}
			return nil
		}
	}
}

// argonParams turns the configured argon2id costs into password.Params.
func argonParams(cfg config.Serve) password.Params {
	p := password.DefaultParams()
	p.MemoryKiB = cfg.ArgonMemoryKiB
	p.Time = cfg.ArgonTime
	p.Threads = cfg.ArgonThreads
	return p
}
