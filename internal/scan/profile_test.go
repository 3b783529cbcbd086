package scan

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/credshield/credshield/internal/loginapi/standin"
)

// TestScanStandins scans each stand-in, found by its well-known route and
// named with --profile alike, and requires its documented weakness with
// evidence, the session-token note instead of JWT checks, and no other
// finding: the Kratos-like service has no rate limit; the Authelia-like
// and Keycloak-like ones ban usernames only (silently), so rotating
// usernames is never stopped; the GoTrue-like one limits only clients that
// send the header it keys on, so a client without it is never stopped.
func TestScanStandins(t *testing.T) {
	const user, pass = "alice@example.com", "correct horse battery staple"
	tests := []struct {
		profile string
		viaFlag bool
		want    string
	}{
		{"kratos", false, RateLimitMissing},
		{"kratos", true, RateLimitMissing},
		{"authelia", false, RateLimitUsername},
		{"authelia", true, RateLimitUsername},
		{"keycloak", false, RateLimitUsername},
		{"keycloak", true, RateLimitUsername},
		{"gotrue", false, RateLimitMissing},
	}
	for _, tt := range tests {
		name := tt.profile + " discovered"
		if tt.viaFlag {
			name = tt.profile + " with --profile"
		}
		t.Run(name, func(t *testing.T) {
			accounts := map[string]string{user: pass}
			var srv *httptest.Server
			switch tt.profile {
			case "kratos":
				srv = httptest.NewServer(standin.NewKratos(accounts))
			case "authelia":
				srv = httptest.NewServer(standin.NewAuthelia(accounts))
			case "keycloak":
				srv = httptest.NewServer(standin.NewKeycloak(accounts))
			case "gotrue":
				srv = httptest.NewServer(standin.NewGoTrue(accounts))
			}
			defer srv.Close()
			rep := scanTarget(t, srv.URL, func(o *Options) {
				o.Username, o.Password = user, pass
				o.Realm, o.ClientID = standin.KeycloakRealm, standin.KeycloakClient
				if tt.viaFlag {
					o.Profile = tt.profile
				}
			})
			if got := ids(rep); !slices.Equal(got, []string{tt.want}) {
				t.Fatalf("findings %v, want only %s; discovery %+v, inconclusive %+v", got, tt.want, rep.Discovery, rep.Inconclusive)
			}
			f := rep.Findings[0]
			if len(f.Evidence.Exchanges) == 0 || f.Evidence.Summary == "" {
				t.Errorf("finding %s without evidence: %+v", f.ID, f.Evidence)
			}
			if rep.Discovery.Profile != tt.profile {
				t.Errorf("discovery profile %q, want %q", rep.Discovery.Profile, tt.profile)
			}
			// Kratos and Authelia answer sessions; Keycloak and GoTrue
			// JWTs (their stand-ins' tokens are not JWTs, and say so).
			sessions := tt.profile == "kratos" || tt.profile == "authelia"
			if got := slices.ContainsFunc(rep.Discovery.Notes, func(n string) bool { return strings.HasPrefix(n, "session tokens: JWT checks not applicable") }); got != sessions {
				t.Errorf("session-token note %v, want %v: %q", got, sessions, rep.Discovery.Notes)
			}
			for _, sk := range rep.Skipped {
				if sessions && strings.HasPrefix(sk.ID, "jwt.") && sk.Reason != "session tokens: JWT checks not applicable" {
					t.Errorf("%s skipped for %q", sk.ID, sk.Reason)
				}
			}
			for _, ex := range f.Evidence.Exchanges {
				if strings.Contains(ex.Request, pass) || strings.Contains(ex.Response, "session_token\":\"") && !strings.Contains(ex.Response, "redacted") {
					t.Errorf("evidence shows a secret:\n%s\n%s", ex.Request, ex.Response)
				}
			}
			// The header the service takes the client's address from,
			// which a proxy in front must replace (Authelia: the
			// leftmost X-Forwarded-For).
			if !slices.ContainsFunc(rep.Discovery.Notes, func(n string) bool {
				return strings.HasPrefix(n, tt.profile+" reads the client address from ") && strings.Contains(n, "X-Forwarded-For")
			}) {
				t.Errorf("no note of the client address header in %q", rep.Discovery.Notes)
			}
			t.Logf("%s: %s", f.ID, f.Evidence.Summary)
		})
	}
}
