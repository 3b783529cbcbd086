package loginapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/loginapi"
	"github.com/credshield/credshield/internal/loginapi/standin"
)

// countingDoer counts the requests a login needed.
type countingDoer struct{ n int }

func (c *countingDoer) Do(r *http.Request) (*http.Response, error) {
	c.n++
	return http.DefaultClient.Do(r)
}

// send builds a login with p, sends it and reads the answer.
func send(t *testing.T, p *loginapi.Profile, base, id, secret string) (loginapi.Answer, int) {
	t.Helper()
	d := &countingDoer{}
	req, body, err := p.NewAttempt(context.Background(), d, loginapi.Login{Base: base, Identifier: id, Secret: secret,
		Header: http.Header{"X-Forwarded-For": {"198.51.100.7"}}, ClientID: standin.KeycloakClient})
	if err != nil {
		t.Fatal(err)
	}
	// The body the gateway would read names the same account.
	att, err := p.ReadAttempt(req.Header.Get("Content-Type"), body, req.URL.RawQuery)
	if err != nil || att.Identifier != id || !att.Guess {
		t.Fatalf("the built login reads back as %+v, %v; want a guess for %q", att, err, id)
	}
	resp, err := d.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a, err := loginapi.ReadAnswer(resp)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return a, d.n
}

// TestNewAttemptStandins logs in to each stand-in with the login a
// profile builds: the right password is a success, a wrong one a failure,
// and Kratos's login takes its flow first.
func TestNewAttemptStandins(t *testing.T) {
	kratos := httptest.NewServer(standin.NewKratos(map[string]string{alice: alicePass}))
	defer kratos.Close()
	authelia := httptest.NewServer(standin.NewAuthelia(map[string]string{alice: alicePass}))
	defer authelia.Close()
	keycloak := httptest.NewServer(standin.NewKeycloak(map[string]string{alice: alicePass}))
	defer keycloak.Close()
	gotrue := httptest.NewServer(standin.NewGoTrue(map[string]string{alice: alicePass}))
	defer gotrue.Close()
	tests := []struct {
		profile, base string
		requests      int
	}{
		{"kratos", kratos.URL, 2},
		{"authelia", authelia.URL, 1},
		{"keycloak", keycloak.URL, 1},
		{"gotrue", gotrue.URL, 1},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			p, err := loginapi.New(tt.profile, loginapi.Options{Realms: []string{standin.KeycloakRealm}})
			if err != nil {
				t.Fatal(err)
			}
			a, n := send(t, p, tt.base, alice, alicePass)
			if got := p.Classify(time.Now(), a); got != loginapi.Success || n != tt.requests {
				t.Errorf("right password: %v after %d requests (status %d %s); want success after %d", got, n, a.Status, a.Body, tt.requests)
			}
			a, _ = send(t, p, tt.base, alice, wrongGuess)
			if got := p.Classify(time.Now(), a); got != loginapi.Failure {
				t.Errorf("wrong password: %v (status %d); want failure", got, a.Status)
			}
			if kind, _ := p.ReadRefusal(a); kind != 0 {
				t.Errorf("the service's own failure read as the gateway's refusal %v", kind)
			}
		})
	}
}

// TestServiceVersion reads the GoTrue stand-in's version, says that
// Authelia publishes none, and that Kratos's public port (like the real
// one's) does not serve GET /version.
func TestServiceVersion(t *testing.T) {
	gotrue := httptest.NewServer(standin.NewGoTrue(nil))
	defer gotrue.Close()
	kratos := httptest.NewServer(standin.NewKratos(nil))
	defer kratos.Close()
	p, _ := loginapi.New("gotrue", loginapi.Options{})
	if v, err := p.ServiceVersion(context.Background(), http.DefaultClient, gotrue.URL); err != nil || v != standin.GoTrueVersion {
		t.Errorf("gotrue version %q, %v; want %q", v, err, standin.GoTrueVersion)
	}
	p, _ = loginapi.New("kratos", loginapi.Options{})
	if v, err := p.ServiceVersion(context.Background(), http.DefaultClient, kratos.URL); err == nil || errors.Is(err, loginapi.ErrNoVersion) {
		t.Errorf("kratos public port: version %q, %v; want an error that says /version did not answer", v, err)
	}
	p, _ = loginapi.New("authelia", loginapi.Options{})
	if _, err := p.ServiceVersion(context.Background(), http.DefaultClient, kratos.URL); !errors.Is(err, loginapi.ErrNoVersion) {
		t.Errorf("authelia version error %v, want ErrNoVersion", err)
	}
}

// TestReadRefusalReadsRender reads back every refusal each profile
// renders (and the gateway's RFC 6749 answers where the profile has
// none), and reads none in the services' own failures.
func TestReadRefusalReadsRender(t *testing.T) {
	chal := &challenge.Challenge{Token: "tok-123", Difficulty: 3}
	rfc, _ := json.Marshal(challenge.NewResponse(*chal))
	for _, name := range loginapi.Names() {
		p, err := loginapi.New(name, loginapi.Options{Realms: []string{"test"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []loginapi.Refusal{{Kind: loginapi.Throttled, RetryAfter: 3}, {Kind: loginapi.ChallengeRequired, Challenge: chal}} {
			resp, ok := p.Render(r)
			if !ok {
				if r.Kind == loginapi.Throttled {
					resp = loginapi.Response{Status: http.StatusTooManyRequests}
				} else {
					resp = loginapi.Response{Status: http.StatusBadRequest, Body: rfc}
				}
			}
			kind, tok := p.ReadRefusal(loginapi.Answer{Status: resp.Status, Header: resp.Header, Body: resp.Body})
			want := ""
			if r.Kind == loginapi.ChallengeRequired {
				want = chal.Token
			}
			if kind != r.Kind || tok != want {
				t.Errorf("%s: refusal %v read back as %v %q", name, r.Kind, kind, tok)
			}
		}
	}
	for _, c := range standin.Failures {
		p, err := loginapi.New(c.Profile, loginapi.Options{Realms: []string{"test"}})
		if err != nil {
			continue // a profile of a file (custom) or a flow (kratos-browser)
		}
		kind, _ := p.ReadRefusal(loginapi.Answer{Status: c.Status, Body: []byte(c.Body)})
		if want := loginapi.RefusalKind(0); c.Status == http.StatusTooManyRequests {
			want = loginapi.Throttled
			if kind != want {
				t.Errorf("%s %s: read as %v, want %v", c.Profile, c.Name, kind, want)
			}
		} else if kind != want {
			t.Errorf("%s %s: the service's own answer read as the gateway's refusal %v", c.Profile, c.Name, kind)
		}
	}
}
