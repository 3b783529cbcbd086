package server

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/gate/gatetest"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/limit"
	"github.com/credshield/credshield/internal/password"
	"github.com/credshield/credshield/internal/store"
)

// failingHasher answers every request for a hasher with err, or, when
// err is nil, holds it until the request's context ends (a client that
// goes away while its password waits).
type failingHasher struct{ err error }

func (h failingHasher) Do(ctx context.Context, _ func()) error {
	if h.err != nil {
		return h.err
	}
	<-ctx.Done()
	return ctx.Err()
}

func (h failingHasher) DoFirst(ctx context.Context, _ string, fn func()) error { return h.Do(ctx, fn) }

// failingScreener cannot screen: the breach filter is unreadable.
type failingScreener struct{}

func (failingScreener) Screen(string) error { return errors.New("breach filter unreadable") }

// TestEveryGrantExitSettlesOnce injects a failure at every exit of the
// password and refresh grants — a store error, a hasher error, a bad DPoP
// proof, a client that goes away, a scope refused, a screening failure —
// besides their ordinary ends, and shows that each admitted attempt's
// reservation is settled exactly once, with that exit's outcome, and
// counted once in its grant's own metric (refresh grants in
// credshield_refresh_attempts_total, never among password logins).
func TestEveryGrantExitSettlesOnce(t *testing.T) {
	const (
		logins    = "credshield_login_attempts_total "
		refreshes = "credshield_refresh_attempts_total "
	)
	oneTry := unlimited()
	oneTry.IP = limit.Limit{Burst: 1, Period: time.Hour}
	// login logs alice in and returns her refresh token.
	login := func(e *testEnv) string {
		e.t.Helper()
		res := e.login("alice", "correct horse battery")
		tok, _ := res.json(e.t)["refresh_token"].(string)
		if res.status != http.StatusOK || tok == "" {
			e.t.Fatalf("login: %d %s", res.status, res.body)
		}
		return tok
	}
	tests := []struct {
		name string
		opts []envOption
		// prepare readies the exit and returns the request that takes it.
		prepare  func(e *testEnv) func() int
		status   int
		admitted int
		outcome  guard.Outcome
		counted  string
	}{
		{"password: success", nil,
			func(e *testEnv) func() int {
				return func() int { return e.login("alice", "correct horse battery").status }
			},
			http.StatusOK, 1, guard.Success, logins + "success"},
		{"password: wrong password", nil,
			func(e *testEnv) func() int { return func() int { return e.login("alice", "wrong").status } },
			http.StatusBadRequest, 1, guard.Failure, logins + "failure"},
		{"password: unknown user", nil,
			func(e *testEnv) func() int { return func() int { return e.login("nobody", "wrong").status } },
			http.StatusBadRequest, 1, guard.UnknownUser, logins + "failure"},
		{"password: store error", nil,
			func(e *testEnv) func() int {
				closeStore(e)
				return func() int { return e.login("alice", "correct horse battery").status }
			},
			http.StatusServiceUnavailable, 1, guard.Aborted, logins + "unavailable"},
		{"password: hasher error", []envOption{withHasher(func(Hasher) Hasher { return failingHasher{err: password.ErrOverloaded} })},
			func(e *testEnv) func() int {
				return func() int { return e.login("alice", "correct horse battery").status }
			},
			http.StatusServiceUnavailable, 1, guard.Aborted, logins + "unavailable"},
		{"password: client gone", []envOption{withHasher(func(Hasher) Hasher { return failingHasher{} })},
			func(e *testEnv) func() int {
				return func() int { return goneClient(e, url.Values{"username": {"alice"}, "password": {"x"}}) }
			},
			0, 1, guard.Aborted, logins + "unavailable"},
		{"password: bad DPoP proof", nil,
			func(e *testEnv) func() int {
				return func() int { return e.loginWith("alice", "correct horse battery", "DPoP", "not.a.proof").status }
			},
			http.StatusBadRequest, 1, guard.Failure, logins + "invalid_request"},
		{"password: invalid_scope", nil,
			func(e *testEnv) func() int {
				return func() int {
					return e.postToken(url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "scope": {"admin"}}.Encode()).status
				}
			},
			http.StatusBadRequest, 1, guard.Success, logins + "invalid_request"},
		{"password: screening fails", []envOption{withScreen(failingScreener{})},
			func(e *testEnv) func() int {
				h, err := password.Hash(rand.Reader, []byte("an imported passphrase"), testParams)
				if err != nil {
					e.t.Fatal(err)
				}
				class, _ := password.Check(h)
				if err := e.st.CreateUsers(context.Background(), []store.NewUser{{Username: "imported", PasswordHash: h, HashClass: class, Unscreened: true}}, time.Now()); err != nil {
					e.t.Fatal(err)
				}
				return func() int { return e.login("imported", "an imported passphrase").status }
			},
			http.StatusOK, 1, guard.Success, logins + "success"},
		{"password: refused", []envOption{withPolicy(oneTry)},
			func(e *testEnv) func() int {
				e.login("alice", "wrong")
				return func() int { return e.login("alice", "correct horse battery").status }
			},
			http.StatusTooManyRequests, 0, 0, logins + "denied"},
		{"refresh: success", nil,
			func(e *testEnv) func() int { tok := login(e); return func() int { return e.refresh(tok, nil).status } },
			http.StatusOK, 1, guard.Success, refreshes + "success"},
		{"refresh: malformed token", nil,
			func(e *testEnv) func() int { return func() int { return e.refresh("short", nil).status } },
			http.StatusBadRequest, 1, guard.Failure, refreshes + "failure"},
		{"refresh: unknown token", nil,
			func(e *testEnv) func() int {
				return func() int { return e.refresh(strings.Repeat("A", refreshTokenLen), nil).status }
			},
			http.StatusBadRequest, 1, guard.UnknownUser, refreshes + "failure"},
		{"refresh: reuse", nil,
			func(e *testEnv) func() int {
				tok := login(e)
				if res := e.refresh(tok, nil); res.status != http.StatusOK {
					e.t.Fatalf("first refresh: %d %s", res.status, res.body)
				}
				return func() int { return e.refresh(tok, nil).status }
			},
			http.StatusBadRequest, 1, guard.Failure, refreshes + "failure"},
		{"refresh: store error", nil,
			func(e *testEnv) func() int {
				tok := login(e)
				closeStore(e)
				return func() int { return e.refresh(tok, nil).status }
			},
			http.StatusServiceUnavailable, 1, guard.Aborted, refreshes + "unavailable"},
		{"refresh: bad DPoP proof", nil,
			func(e *testEnv) func() int {
				tok := login(e)
				return func() int { return e.refresh(tok, nil, "DPoP", "not.a.proof").status }
			},
			http.StatusBadRequest, 1, guard.Failure, refreshes + "invalid_request"},
		{"refresh: invalid_scope", []envOption{withScopes("read", "write")},
			func(e *testEnv) func() int {
				res := e.postToken(url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "scope": {"read"}}.Encode())
				tok, _ := res.json(e.t)["refresh_token"].(string)
				return func() int { return e.refresh(tok, url.Values{"scope": {"read write"}}).status }
			},
			http.StatusBadRequest, 1, guard.Aborted, refreshes + "invalid_request"},
		{"refresh: another client's token", nil,
			func(e *testEnv) func() int {
				tok := login(e)
				return func() int { return e.refresh(tok, url.Values{"client_id": {"other"}}).status }
			},
			http.StatusBadRequest, 1, guard.Failure, refreshes + "failure"},
		{"refresh: refused", []envOption{withPolicy(oneTry)},
			func(e *testEnv) func() int {
				e.login("alice", "wrong")
				return func() int { return e.refresh(strings.Repeat("A", refreshTokenLen), nil).status }
			},
			http.StatusTooManyRequests, 0, 0, refreshes + "denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, append([]envOption{withCountingGuard()}, tt.opts...)...)
			e.addUser("alice", "correct horse battery")
			request := tt.prepare(e)
			e.counting.Reset()
			before := gatetest.Attempts(t, e.reg)
			if status := request(); tt.status != 0 && status != tt.status {
				t.Errorf("status %d, want %d", status, tt.status)
			}
			e.counting.CheckSettledOnce(t, tt.admitted, tt.outcome)
			gatetest.CheckCounted(t, before, gatetest.Attempts(t, e.reg), tt.counted)
		})
	}
}

// closeStore closes the server's database under it: every query fails.
func closeStore(e *testEnv) {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
}

// goneClient posts form to /token and goes away after 100ms, before the
// answer; it returns 0, or the status if the answer came first.
func goneClient(e *testEnv, form url.Values) int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.ts.URL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := e.client.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}
