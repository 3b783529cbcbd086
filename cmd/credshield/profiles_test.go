package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/credshield/credshield/internal/loginapi/standin"
)

// TestScanStandinsBehindProtect scans each stand-in through credshield
// protect --profile, finding the service through the gateway: alone each
// has a HIGH rate-limit finding (the scan package's tests prove it);
// behind protect nothing is above LOW and no check is left undecided.
func TestScanStandinsBehindProtect(t *testing.T) {
	const user, pass = "alice@example.com", "correct horse battery staple"
	for _, svc := range []string{"kratos", "authelia", "keycloak", "gotrue"} {
		t.Run(svc, func(t *testing.T) {
			accounts := map[string]string{user: pass}
			services := map[string]http.Handler{"kratos": standin.NewKratos(accounts), "authelia": standin.NewAuthelia(accounts),
				"keycloak": standin.NewKeycloak(accounts), "gotrue": standin.NewGoTrue(accounts)}
			up := httptest.NewServer(services[svc])
			defer up.Close()
			var realm []string
			if svc == "keycloak" {
				realm = []string{"--realm", standin.KeycloakRealm}
			}
			// No trusted proxy: the scanner is a client on loopback, and
			// a forwarding header it sets must not move it.
			proxy := startCommand(t, "protect", append([]string{"--profile", svc, "--upstream", up.URL, "--data-dir", t.TempDir(),
				"--challenge-difficulty", "2", "--challenge-attack-difficulty", "3"}, realm...)...)
			out := filepath.Join(t.TempDir(), "report.json")
			code, stdout, stderr := credshield(t, "", map[string]string{"CREDSHIELD_SCAN_PASSWORD": pass},
				append(append([]string{"scan", proxy, "--username", user, "--client-id", standin.KeycloakClient, "--format", "json", "--out", out, "--fail-on", "medium"}, realm...), fastScan...)...)
			body, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("scan exit %d, no report: %v; %s %s", code, err, stdout, stderr)
			}
			var rep struct {
				Findings []struct {
					ID, Severity string
					Evidence     struct{ Summary string }
				}
				Inconclusive []struct{ ID, Reason string }
				Discovery    struct {
					Profile string
					Notes   []string
				}
			}
			if err := json.Unmarshal(body, &rep); err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Findings {
				t.Logf("%s %s: %s", f.Severity, f.ID, f.Evidence.Summary)
				if f.Severity != "low" {
					t.Errorf("%s behind protect has a %s finding: %s", svc, f.Severity, f.ID)
				}
			}
			if len(rep.Inconclusive) > 0 {
				t.Errorf("inconclusive: %+v", rep.Inconclusive)
			}
			if rep.Discovery.Profile != svc || code != 0 {
				t.Errorf("scan spoke %q, exit %d (stderr %s); want %s, 0", rep.Discovery.Profile, code, stderr, svc)
			}
		})
	}
}
