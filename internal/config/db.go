package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// DBKind is the store backend a --db value selects.
type DBKind int

// The backends. SQLite is the zero value: a single node needs no database
// server.
const (
	DBSQLite DBKind = iota
	DBPostgres
)

// DBTarget is a parsed --db value.
type DBTarget struct {
	Kind DBKind
	// Path is the SQLite database file; "" means credshield.db in the data
	// directory.
	Path string
	// DSN is the PostgreSQL connection URL exactly as given (it may carry a
	// password: never log or print it).
	DSN string
}

// ParseDB parses a --db value: "" (SQLite in the data directory),
// sqlite://PATH (the rest of the value is the path, taken literally, so
// sqlite:///var/lib/credshield.db is absolute), or a postgres:// or
// postgresql:// URL. Errors never quote the value, which may hold a
// password.
func ParseDB(raw string) (DBTarget, error) {
	if raw == "" {
		return DBTarget{Kind: DBSQLite}, nil
	}
	if path, ok := strings.CutPrefix(raw, "sqlite://"); ok {
		if path == "" {
			return DBTarget{}, errors.New("--db sqlite://: missing path")
		}
		return DBTarget{Kind: DBSQLite, Path: path}, nil
	}
	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		if _, err := url.Parse(raw); err != nil {
			return DBTarget{}, errors.New("--db: invalid PostgreSQL URL")
		}
		return DBTarget{Kind: DBPostgres, DSN: raw}, nil
	}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok || strings.ContainsAny(scheme, "@:/") {
		return DBTarget{}, errors.New("--db: want sqlite://PATH or a postgres:// URL")
	}
	return DBTarget{}, fmt.Errorf("--db: unsupported scheme %q: want sqlite://PATH or a postgres:// URL", scheme)
}
