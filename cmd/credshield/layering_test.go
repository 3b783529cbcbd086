package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering fails when a package imports, directly or through others,
// something that would break the design's layering: the guard and the
// parts under it know nothing of HTTP, the scanner is an outside auditor
// that never reaches into credshield's own defences, and no library
// package pulls in the CLI.
func TestLayering(t *testing.T) {
	const mod = "github.com/credshield/credshield/"
	const in = mod + "internal/"
	rules := []struct {
		pkg    string
		banned []string
	}{
		{"internal/guard", []string{"net/http", in + "server", in + "store"}},
		{"internal/limit", []string{"net/http", in + "guard", in + "server"}},
		{"internal/password", []string{"net/http", in + "store", in + "server"}},
		// Screening is offline: no network at login or when a password is set.
		{"internal/breach", []string{"net", "net/http", in + "store", in + "server"}},
		{"token", []string{"net/http", in + "store", in + "server"}},
		{"internal/username", []string{"net/http"}},
		{"internal/scope", []string{"net/http", in + "store", in + "server"}},
		{"internal/store/sqlite", []string{"net/http", in + "server", in + "guard"}},
		{"internal/store/postgres", []string{"net/http", in + "server", in + "guard"}},
		{"internal/store/sqlstore", []string{"net/http", in + "server", in + "guard", in + "store/sqlite", in + "store/postgres"}},
		{"internal/replay", []string{"net/http", in + "server", in + "store", in + "guard"}},
		{"internal/scan", []string{in + "guard", in + "store", in + "server", in + "limit", in + "password"}},
		{"internal/server", []string{in + "protect", in + "store/sqlite", in + "store/postgres", "github.com/spf13/cobra"}},
		// The login gate decides and returns; the token service and the
		// gateway render. It knows neither of them, nor accounts.
		{"internal/gate", []string{in + "server", in + "protect", in + "store", in + "store/sqlite", in + "store/postgres", "github.com/spf13/cobra"}},
		// The gateway keeps no accounts and shares nothing with the token
		// service but the gate and httpapi.
		{"internal/protect", []string{in + "server", in + "store", in + "store/sqlite", in + "store/postgres", in + "password", "github.com/spf13/cobra"}},
		// The HTTP conventions both share are leaves.
		{"internal/httpapi", []string{in + "server", in + "protect", in + "gate", in + "guard", in + "store", "github.com/spf13/cobra"}},
		// The browser assets are static files: they know nothing of the
		// service, and the browser driver of their tests stays out of the
		// binary.
		{"internal/challenge/interstitial", []string{in + "server", in + "store", in + "guard", in + "gate", in + "protect", "github.com/chromedp/chromedp"}},
		{"internal/challenge/browser", []string{in + "server", in + "store", in + "guard", "github.com/chromedp/chromedp"}},
		{"cmd/credshield", []string{"github.com/chromedp/chromedp", in + "challenge/browser/browsertest", in + "loginapi/standin", "github.com/ory/client-go"}},
		// The admin listener speaks to the guard alone: it reaches no
		// store and is no part of the public server.
		{"internal/adminapi", []string{in + "server", in + "store", in + "redisstore", "github.com/spf13/cobra"}},
		// A login profile describes a service's API; it decides nothing
		// about budgets and reaches no store, so simulate and scan can
		// read the same profiles.
		{"internal/loginapi", []string{in + "server", in + "guard", in + "store", in + "limit", in + "password"}},
		// The public packages must not expose or pull in the service's
		// internals beyond the token and DPoP types verify is built on.
		{"verify", []string{in + "server", in + "store", in + "guard", "github.com/spf13/cobra"}},
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", mod+r.pkg).CombinedOutput()
		// A rule naming a package that does not exist fails: a move or a
		// rename must carry its rules along, not silently disable them.
		if err != nil {
			t.Errorf("go list %s: %v\n%s", r.pkg, err, out)
			continue
		}
		deps := strings.Fields(string(out))
		for _, b := range r.banned {
			for _, d := range deps {
				if d == b {
					t.Errorf("%s depends on %s", r.pkg, b)
				}
			}
		}
	}
}
