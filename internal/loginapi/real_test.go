package loginapi_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/loginapi"
)

// TestRealServices reads the answers of the real Authelia and Kratos
// with the profiles. It runs only from scripts/e2e-real-services.sh,
// which builds and starts both services on loopback and sets
// CREDSHIELD_E2E_{AUTHELIA,KRATOS}_URL and the files holding the test
// users' passwords (CREDSHIELD_E2E_{AUTHELIA,KRATOS}_PASSWORD_FILE, and
// CREDSHIELD_E2E_AUTHELIA_BOB_PASSWORD_FILE for the user it gets banned).
func TestRealServices(t *testing.T) {
	vars := map[string]string{}
	for _, name := range []string{"AUTHELIA_URL", "AUTHELIA_PASSWORD_FILE", "AUTHELIA_BOB_PASSWORD_FILE", "KRATOS_URL", "KRATOS_PASSWORD_FILE"} {
		if vars[name] = os.Getenv("CREDSHIELD_E2E_" + name); vars[name] == "" {
			t.Skipf("CREDSHIELD_E2E_%s is not set: run scripts/e2e-real-services.sh", name)
		}
	}
	env := func(name string) string { return vars[name] }
	secret := func(name string) string {
		b, err := os.ReadFile(env(name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	t.Run("authelia", func(t *testing.T) {
		base := env("AUTHELIA_URL")
		p := profile(t, "authelia")
		try := func(user, pw string) loginapi.Outcome {
			body := `{"username":"` + user + `","password":"` + pw + `","keepMeLoggedIn":false}`
			if _, err := p.ReadAttempt("application/json", []byte(body), ""); err != nil {
				t.Fatal(err)
			}
			a := post(t, base+p.Logins[0].Path, "application/json", body)
			got := p.Classify(time.Now(), a)
			t.Logf("%s: %d %s -> %v", user, a.Status, a.Body, got)
			return got
		}
		if got := try("alice", secret("AUTHELIA_PASSWORD_FILE")); got != loginapi.Success {
			t.Fatalf("right password: %v", got)
		}
		if got := try("alice", wrongGuess); got != loginapi.Failure {
			t.Fatalf("wrong password: %v", got)
		}
		if got := try("nobody", wrongGuess); got != loginapi.Failure {
			t.Fatalf("unknown user: %v", got)
		}
		// Authelia's own ban answers like a wrong password: a failure,
		// even for the right one.
		for range 3 {
			try("bob", wrongGuess)
		}
		if got := try("bob", secret("AUTHELIA_BOB_PASSWORD_FILE")); got != loginapi.Failure {
			t.Fatalf("right password of a banned user: %v", got)
		}
	})
	t.Run("kratos", func(t *testing.T) {
		base := env("KRATOS_URL")
		p := profile(t, "kratos")
		try := func(body, flow string) loginapi.Outcome {
			query := "flow=" + flow
			if _, err := p.ReadAttempt("application/json", []byte(body), query); err != nil {
				t.Fatal(err)
			}
			a := post(t, base+p.Logins[0].Path+"?"+query, "application/json", body)
			got := p.Classify(time.Now(), a)
			t.Logf("%d %.200s -> %v", a.Status, a.Body, got)
			return got
		}
		pw := secret("KRATOS_PASSWORD_FILE")
		for _, tt := range []struct {
			name, body, flow string
			want             loginapi.Outcome
		}{
			{"right password", `{"method":"password","identifier":"alice@example.com","password":"` + pw + `"}`, "", loginapi.Success},
			{"legacy identifier", `{"method":"password","password_identifier":"alice@example.com","password":"` + pw + `"}`, "", loginapi.Success},
			{"wrong password", `{"method":"password","identifier":"alice@example.com","password":"` + wrongGuess + `"}`, "", loginapi.Failure},
			{"unknown identifier", `{"method":"password","identifier":"nobody@example.com","password":"` + wrongGuess + `"}`, "", loginapi.Failure},
			{"no flow", `{"method":"password","identifier":"alice@example.com","password":"` + pw + `"}`, "00000000-0000-4000-8000-000000000000", loginapi.Failure},
		} {
			flow := tt.flow
			if flow == "" {
				flow = kratosFlow(t, base)
			}
			if got := try(tt.body, flow); got != tt.want {
				t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
			}
		}
	})
}
