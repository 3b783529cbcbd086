// Package storetest is the test suite every credshield store backend
// (every store.Store) must pass, so SQLite and PostgreSQL answer alike: the same records, the same
// sentinel errors, the same compare-and-swap and all-or-nothing semantics.
// A backend's own tests call Run with a function that opens a fresh, empty
// store; tests of what only one backend has (file modes, pragmas, pools)
// stay beside that backend.
//
// It also provides PostgresDSN, which gives each test its own schema in the
// PostgreSQL named by CREDSHIELD_TEST_POSTGRES.
package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/credshield/credshield/internal/store"
)

// Opened returns s, the store an Open just returned with err, and closes
// it when t ends; it fails t when err is not nil.
func Opened[S interface{ Close() error }](t testing.TB, s S, err error) S {
	t.Helper()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// RunBackend runs Run and RunShared on a backend: fresh returns where a
// new, empty database for t is (a file path, a DSN whose schema is t's
// own), open opens a store there (and migrates it).
func RunBackend[S store.Store](t *testing.T, fresh func(t testing.TB) string, open func(ctx context.Context, where string) (S, error)) {
	t.Run("Suite", func(t *testing.T) {
		Run(t, func(t *testing.T) store.Store { s, _ := OpenFresh(t, fresh, open); return s })
	})
	t.Run("Shared", func(t *testing.T) {
		RunShared(t, func(t *testing.T) (store.Store, func(t *testing.T) store.Store) {
			s, where := OpenFresh(t, fresh, open)
			return s, func(t *testing.T) store.Store {
				s, err := open(t.Context(), where)
				return Opened(t, s, err)
			}
		})
	})
}

// OpenFresh opens a store with open on a new, empty database from fresh,
// closed when t ends, and returns it with where the database is.
func OpenFresh[S interface{ Close() error }](t *testing.T, fresh func(t testing.TB) string, open func(ctx context.Context, where string) (S, error)) (S, string) {
	t.Helper()
	where := fresh(t)
	s, err := open(t.Context(), where)
	return Opened(t, s, err), where
}

// TestPassword is a password a test may put in a location given to
// OpenFails; no error may reveal it.
const TestPassword = "s3cret"

// OpenFails checks that open fails, without a panic and without revealing
// TestPassword, on each of bad (a case name to a location), and with
// context.Canceled under a cancelled context on a database from fresh.
func OpenFails[S interface{ Close() error }](t *testing.T, fresh func(t testing.TB) string, open func(ctx context.Context, where string) (S, error), bad map[string]string) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(t *testing.T, ctx context.Context, where string, want error) {
		s, err := open(ctx, where)
		if err == nil {
			s.Close()
			t.Fatal("Open succeeded, want an error")
		}
		if want != nil && !errors.Is(err, want) {
			t.Errorf("err = %v, want %v", err, want)
		}
		if strings.Contains(err.Error(), TestPassword) {
			t.Errorf("error %q reveals the password", err)
		}
	}
	t.Run("cancelled context", func(t *testing.T) { check(t, cancelled, fresh(t), context.Canceled) })
	for name, where := range bad {
		t.Run(name, func(t *testing.T) { check(t, t.Context(), where, nil) })
	}
}
