package loginapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/credshield/credshield/internal/loginapi"
	"github.com/credshield/credshield/internal/loginapi/standin"
)

// The stand-ins' test accounts; the passwords are made up for tests.
const (
	alice      = "alice@example.com"
	alicePass  = "correct horse battery staple"
	wrongGuess = "password123"
)

// post sends a login body and returns the answer as the proxy would hand
// it to Classify.
func post(t *testing.T, url, ct, body string, header ...string) loginapi.Answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, loginapi.MaxAnswerBytes+1))
	if err != nil {
		t.Fatal(err)
	}
	return loginapi.Answer{Status: resp.StatusCode, Header: resp.Header, Body: b, Truncated: len(b) > loginapi.MaxAnswerBytes}
}

func kratosFlow(t *testing.T, base string) string {
	t.Helper()
	c := kratosClient(base)
	flow, _, err := c.FrontendAPI.CreateNativeLoginFlow(context.Background()).Execute()
	if err != nil {
		t.Fatalf("CreateNativeLoginFlow: %v", err)
	}
	return flow.Id
}

func kratosClient(base string) *ory.APIClient {
	cfg := ory.NewConfiguration()
	cfg.Servers = ory.ServerConfigurations{{URL: base}}
	return ory.NewAPIClient(cfg)
}

// TestStandinAnswersClassify logs in to each stand-in over loopback with
// the body the profile reads and checks the profile's reading of the
// stand-in's real answers.
func TestStandinAnswersClassify(t *testing.T) {
	authelia := httptest.NewServer(standin.NewAuthelia(map[string]string{"alice": alicePass}))
	defer authelia.Close()
	kratos := httptest.NewServer(standin.NewKratos(map[string]string{alice: alicePass}))
	defer kratos.Close()

	tests := []struct {
		name, profile string
		url           func() (path, query string)
		base, body    string
		want          loginapi.Outcome
	}{
		{"authelia right", "authelia", func() (string, string) { return "/api/firstfactor", "" }, authelia.URL,
			`{"username":"alice","password":"` + alicePass + `","keepMeLoggedIn":false}`, loginapi.Success},
		{"authelia wrong", "authelia", func() (string, string) { return "/api/firstfactor", "" }, authelia.URL,
			`{"username":"alice","password":"` + wrongGuess + `"}`, loginapi.Failure},
		{"authelia unknown user", "authelia", func() (string, string) { return "/api/firstfactor", "" }, authelia.URL,
			`{"username":"mallory","password":"` + wrongGuess + `"}`, loginapi.Failure},
		{"kratos right", "kratos", func() (string, string) { return "/self-service/login", "flow=" + kratosFlow(t, kratos.URL) }, kratos.URL,
			`{"method":"password","identifier":"` + alice + `","password":"` + alicePass + `"}`, loginapi.Success},
		{"kratos legacy identifier right", "kratos", func() (string, string) { return "/self-service/login", "flow=" + kratosFlow(t, kratos.URL) }, kratos.URL,
			`{"method":"password","password_identifier":"` + alice + `","password":"` + alicePass + `"}`, loginapi.Success},
		{"kratos wrong", "kratos", func() (string, string) { return "/self-service/login", "flow=" + kratosFlow(t, kratos.URL) }, kratos.URL,
			`{"method":"password","identifier":"` + alice + `","password":"` + wrongGuess + `"}`, loginapi.Failure},
		{"kratos expired flow", "kratos", func() (string, string) { return "/self-service/login", "flow=00000000-0000-4000-8000-000000000000" }, kratos.URL,
			`{"method":"password","identifier":"` + alice + `","password":"` + alicePass + `"}`, loginapi.NotJudged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := profile(t, tt.profile)
			path, query := tt.url()
			if !p.Match(http.MethodPost, path) {
				t.Fatalf("%s does not match its own login path %s", tt.profile, path)
			}
			if _, err := p.ReadAttempt("application/json", []byte(tt.body), query); err != nil {
				t.Fatalf("ReadAttempt: %v", err)
			}
			u := tt.base + path
			if query != "" {
				u += "?" + query
			}
			a := post(t, u, "application/json", tt.body)
			if got := p.Classify(time.Now(), a); got != tt.want {
				t.Fatalf("Classify(%d %s) = %v, want %v", a.Status, a.Body, got, tt.want)
			}
		})
	}
}

// TestKratosStandinSpeaksClientGo drives the Kratos stand-in with Ory's
// Go client: its flow, session and failure shapes decode as Kratos's.
func TestKratosStandinSpeaksClientGo(t *testing.T) {
	srv := httptest.NewServer(standin.NewKratos(map[string]string{alice: alicePass}))
	defer srv.Close()
	c := kratosClient(srv.URL)
	login := func(pw string) (*ory.SuccessfulNativeLogin, error) {
		body := ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod(alice, "password", pw))
		ok, _, err := c.FrontendAPI.UpdateLoginFlow(context.Background()).Flow(kratosFlow(t, srv.URL)).UpdateLoginFlowBody(body).Execute()
		return ok, err
	}
	ok, err := login(alicePass)
	if err != nil || ok.GetSessionToken() == "" || ok.Session.Id == "" {
		t.Fatalf("right password: %+v, %v", ok, err)
	}
	_, err = login(wrongGuess)
	var oerr *ory.GenericOpenAPIError
	if !errors.As(err, &oerr) {
		t.Fatalf("wrong password: %v", err)
	}
	flow, isFlow := oerr.Model().(ory.LoginFlow)
	if !isFlow || len(flow.Ui.Messages) != 1 || flow.Ui.Messages[0].Id != loginapi.KratosInvalidCredentials {
		t.Fatalf("wrong password: model %T %+v (body %s)", oerr.Model(), oerr.Model(), oerr.Body())
	}
}

// TestAutheliaStandinRace shows the documented weakness: the ban is
// checked before the hash and marked after it, so a parallel burst gets
// more than MaxRetries hashes; once banned, attempts are answered KO
// without a hash until the ban ends.
func TestAutheliaStandinRace(t *testing.T) {
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	a := standin.NewAuthelia(map[string]string{"alice": alicePass})
	a.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	const parallel = 16
	// Every attempt passes the ban check before any is hashed, as happens
	// when a burst arrives within one hash-and-database time.
	var arrived sync.WaitGroup
	arrived.Add(parallel)
	var n atomic.Int32
	a.Checked = func() {
		if n.Add(1) <= parallel {
			arrived.Done()
			arrived.Wait()
		}
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	body := `{"username":"alice","password":"` + wrongGuess + `"}`
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range parallel {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/firstfactor", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	close(start)
	wg.Wait()
	raced := a.Checks()
	if raced != parallel {
		t.Fatalf("%d parallel attempts got %d hashes; the stand-in lost its check-then-mark race", parallel, raced)
	}
	t.Logf("%d parallel wrong passwords: %d hashes before the ban (Authelia's limit is %d)", parallel, raced, a.MaxRetries)
	banned := post(t, srv.URL+"/api/firstfactor", "application/json", `{"username":"alice","password":"`+alicePass+`"}`)
	if banned.Status != 401 || !bytes.Contains(banned.Body, []byte(standin.AutheliaFailed)) || a.Checks() != raced {
		t.Fatalf("banned user: %d %s, %d hashes (was %d)", banned.Status, banned.Body, a.Checks(), raced)
	}
	mu.Lock()
	at = at.Add(a.BanTime)
	mu.Unlock()
	if got := post(t, srv.URL+"/api/firstfactor", "application/json", `{"username":"alice","password":"`+alicePass+`"}`); got.Status != 200 {
		t.Fatalf("after the ban: %d %s", got.Status, got.Body)
	}
}

// TestKratosStandinNoLimit: like open-source Kratos, every guess is
// hashed, however many.
func TestKratosStandinNoLimit(t *testing.T) {
	k := standin.NewKratos(map[string]string{alice: alicePass})
	srv := httptest.NewServer(k)
	defer srv.Close()
	const n = 30
	for range n {
		a := post(t, srv.URL+"/self-service/login?flow="+kratosFlow(t, srv.URL), "application/json",
			`{"method":"password","identifier":"`+alice+`","password":"`+wrongGuess+`"}`)
		if a.Status != 400 {
			t.Fatalf("guess answered %d %s", a.Status, a.Body)
		}
	}
	if k.Checks() != n {
		t.Fatalf("%d guesses, %d hashes", n, k.Checks())
	}
}

// TestStandinClientIP checks that each stand-in reads the client address
// from the header its profile says, so tests through the proxy can see
// which address the service judged.
func TestStandinClientIP(t *testing.T) {
	a := standin.NewAuthelia(map[string]string{"alice": alicePass})
	as := httptest.NewServer(a)
	defer as.Close()
	post(t, as.URL+"/api/firstfactor", "application/json", `{"username":"alice","password":"x"}`,
		"X-Forwarded-For", "198.51.100.7, 203.0.113.9", "X-Real-IP", "192.0.2.1")
	k := standin.NewKratos(map[string]string{alice: alicePass})
	ks := httptest.NewServer(k)
	defer ks.Close()
	post(t, ks.URL+"/self-service/login?flow="+kratosFlow(t, ks.URL), "application/json", `{"method":"password","identifier":"a","password":"x"}`,
		"X-Forwarded-For", "192.0.2.1", "X-Real-IP", "192.0.2.2", "True-Client-IP", "198.51.100.8")
	for name, got := range map[string][]string{
		"authelia " + profile(t, "authelia").ClientIPHeader: a.ClientIPs(),
		"kratos " + profile(t, "kratos").ClientIPHeader:     k.ClientIPs(),
	} {
		if len(got) != 1 || !strings.HasPrefix(got[0], "198.51.100.") {
			t.Errorf("%s: the service read %v", name, got)
		}
	}
}
