package config

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"github.com/spf13/pflag"
)

// AdminTokenEnv is the environment variable that may hold the admin token
// in place of --admin-token-file. There is no flag for the token itself:
// argv is visible to every user of the machine.
const AdminTokenEnv = "CREDSHIELD_ADMIN_TOKEN"

// Admin is where serve takes administrative requests (guard status and
// unlock) and how they authenticate. The listener is its own, apart from
// the public API and from /metrics, and on loopback unless named insecure.
// The zero value is not usable; start from DefaultAdmin.
type Admin struct {
	// Listen is the admin listener's address; "" disables it. The default
	// is a free port on loopback, written to AddrFile for the CLI.
	Listen string
	// TokenFile holds the bearer token (0600); "" is admin.token in the
	// data directory, created on first start when missing.
	TokenFile string
	// InsecurePublic allows a Listen address off loopback.
	InsecurePublic bool
}

// DefaultAdmin is on, on loopback, on a free port.
func DefaultAdmin() Admin { return Admin{Listen: "127.0.0.1:0"} }

// RegisterFlags binds a's fields to flags on fs.
func (a *Admin) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.Listen, "admin-listen", a.Listen, "address of the admin listener (credshield guard status/unlock); loopback only, never the public or metrics listener; port 0 picks a free one, written to admin.addr in --data-dir; empty disables it")
	fs.BoolVar(&a.InsecurePublic, "insecure-admin-listen-public", a.InsecurePublic, "allow --admin-listen off loopback (anyone who can reach it and holds the token can lift lockouts)")
	a.RegisterTokenFlag(fs)
}

// RegisterTokenFlag binds the token file alone, for the commands that
// call the admin listener.
func (a *Admin) RegisterTokenFlag(fs *pflag.FlagSet) {
	fs.StringVar(&a.TokenFile, "admin-token-file", a.TokenFile, "file holding the admin token, mode 0600 (default admin.token in --data-dir, created by serve); "+AdminTokenEnv+" takes precedence")
}

// TokenPath is the token file, defaulting into dataDir.
func (a Admin) TokenPath(dataDir string) string {
	if a.TokenFile != "" {
		return a.TokenFile
	}
	return filepath.Join(dataDir, "admin.token")
}

// AddrPath is where serve writes the admin listener's address.
func AddrPath(dataDir string) string { return filepath.Join(dataDir, "admin.addr") }

// Validate checks the listener against serve's public and metrics
// addresses.
func (a Admin) Validate(listen, metricsListen string) error {
	if a.Listen == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(a.Listen)
	if err != nil {
		return fmt.Errorf("--admin-listen %q: %w", a.Listen, err)
	}
	if !a.InsecurePublic && !IsLoopbackHost(host) {
		return fmt.Errorf("--admin-listen %q: not a loopback address; use --insecure-admin-listen-public to allow it", a.Listen)
	}
	for _, other := range []struct{ flag, addr string }{{"--listen", listen}, {"--metrics-listen", metricsListen}} {
		if other.addr == "" || port == "0" {
			continue
		}
		if _, p, err := net.SplitHostPort(other.addr); err == nil && p == port {
			return fmt.Errorf("--admin-listen %q: same port as %s; the admin listener has its own", a.Listen, other.flag)
		}
	}
	return nil
}

// ErrNoAdminToken means neither the environment nor the token file holds a
// token.
var ErrNoAdminToken = errors.New("no admin token")
