package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgresEnv names the environment variable holding the DSN of the
// PostgreSQL server tests may use (for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable).
const PostgresEnv = "CREDSHIELD_TEST_POSTGRES"

// PostgresDSN returns a DSN for the server named by CREDSHIELD_TEST_POSTGRES
// whose search_path is a schema created for t alone and dropped, with
// everything in it, when t ends; parallel tests and runs never see each
// other's tables.
//
// Without the variable the test is skipped, except in CI (CI=true), where a
// missing or unreachable PostgreSQL fails it: CI must never pass by
// skipping. A server that is configured but does not answer fails the test
// everywhere.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base, ok := os.LookupEnv(PostgresEnv)
	if !ok || base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(PostgresEnv + " not set, and CI=true: PostgreSQL tests must run in CI")
		}
		t.Skip(PostgresEnv + " not set: skipping PostgreSQL tests")
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "credshield_test_" + hex.EncodeToString(b[:])

	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("%s: invalid connection string", PostgresEnv)
	}
	db := stdlib.OpenDB(*cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		db.Close()
		t.Fatalf("PostgreSQL at %s unreachable or unusable: %v", PostgresEnv, err)
	}
	t.Cleanup(func() {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, base, schema)
}

// withSearchPath adds search_path=schema to dsn, a URL or a key=value
// string; pgx sends unknown parameters to the server as run-time settings.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("%s: invalid URL", PostgresEnv)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}
