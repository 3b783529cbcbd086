// Package postgres is credshield's store for several replicas sharing one
// database: the same records, sentinel errors and semantics as store/sqlite,
// on PostgreSQL through pgx (github.com/jackc/pgx/v5, by its database/sql
// adapter so goose can apply the very same migration files). The SQL is
// package sqlstore's, shared with store/sqlite; this package keeps only
// what is PostgreSQL's: opening and migrating, its locks and the mapping
// of its errors.
//
// # Concurrency across replicas
//
// SQLite serialises writers in one process; here many replicas write at
// once, so every compare-and-swap is a single conditional UPDATE (READ
// COMMITTED re-checks its WHERE clause against the row a concurrent writer
// committed), and refresh-token rotation locks the family row (SELECT ...
// FOR UPDATE) before it reads the token, so two replicas redeeming one token
// see each other: exactly one rotates, the other finds reuse.
//
// Migrations take a PostgreSQL session advisory lock keyed by the database
// and schema, so replicas started together apply each migration once.
// WithAdvisoryLock offers the same kind of lock to callers (signing-key
// rotation) that must run on one replica at a time.
//
// # Failure
//
// A database that cannot be reached is an error wrapping the driver's
// connection error or the context's, from Open and from every method; the
// server answers those with 503 and Retry-After. Nothing panics, and every
// multi-statement write is one transaction, so a failure leaves no partial
// write.
//
// # Schemas
//
// The store uses the first schema of the connection's search_path; set it
// with a search_path parameter in the DSN
// (postgres://host/db?search_path=credshield) to keep credshield's tables
// apart from others.
package postgres
