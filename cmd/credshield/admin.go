package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/credshield/credshield/internal/adminapi"
	"github.com/credshield/credshield/internal/config"
)

// serveAdmin starts the admin listener cfg names over g, with the token
// from the environment or the token file (created in dataDir on first
// start), and writes its address to dataDir for the CLI. It returns the
// bound address and a function that stops it; with cfg.Listen empty it
// does nothing.
func serveAdmin(cfg config.Admin, dataDir string, g adminapi.Guard, lookupEnv func(string) (string, bool), log *slog.Logger) (string, func(), error) {
	if cfg.Listen == "" {
		return "", func() {}, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", nil, fmt.Errorf("admin listener: create data dir: %w", err)
	}
	env, envSet := lookupEnv(config.AdminTokenEnv)
	token, err := adminapi.LoadToken(cfg.TokenPath(dataDir), env, envSet, true)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return "", nil, fmt.Errorf("admin listen: %w", err)
	}
	addr := ln.Addr().String()
	if err := os.WriteFile(config.AddrPath(dataDir), []byte(addr+"\n"), 0o600); err != nil {
		_ = ln.Close()
		return "", nil, fmt.Errorf("admin listener: %w", err)
	}
	hs := &http.Server{Handler: adminapi.Handler(g, token, log), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener stopped", "error", err.Error())
		}
	}()
	log.Info("serving admin", "listen", addr)
	stop := func() {
		_ = hs.Close()
		// Leave no address behind for the CLI to call, unless another
		// server on this data directory has written its own since.
		if b, err := os.ReadFile(config.AddrPath(dataDir)); err == nil && strings.TrimSpace(string(b)) == addr {
			_ = os.Remove(config.AddrPath(dataDir))
		}
	}
	return addr, stop, nil
}
