// Package sqlite is credshield's default store: one SQLite database file in
// the data directory, through the pure-Go modernc.org/sqlite driver (no cgo,
// so the binary builds statically), with the schema from store/migrations
// applied by goose on Open.
//
// # Why SQLite in WAL mode
//
// A single node needs no database server to run, back up or secure: the
// whole state is one file created 0600. Write-ahead logging lets any number
// of readers (token-endpoint user lookups) proceed while one writer commits,
// and synchronous=NORMAL is durable across application crashes, losing at
// most the last transactions on power loss, which is the usual WAL trade.
// The login hot path is reads; writes (account administration, rehash on
// login) are rare and short.
//
// The Store keeps two connection pools on the same file. Writes and
// migrations go through a pool of exactly one connection, so writers in this
// process queue in database/sql, where waiting honours the context, instead
// of spinning in SQLite's busy handler. Reads go through a larger pool whose
// connections are query_only. busy_timeout (5 s) covers the remaining
// contention: another process, such as "credshield user add" run beside a
// live server, writing the same file.
//
// Every connection of both pools gets its settings (busy_timeout,
// foreign_keys, synchronous, transaction locking) from DSN parameters, which
// the driver applies as each connection opens; a PRAGMA run once with Exec
// would only reach whichever pooled connection happened to run it.
// Transactions begin IMMEDIATE, taking the write lock up front, so a
// transaction never has to upgrade a stale read snapshot (SQLITE_BUSY, which
// busy_timeout cannot cure).
//
// # Timestamps
//
// created_at and updated_at are BIGINT unix milliseconds. Integers compare and
// sort the same in SQLite and PostgreSQL, carry no time zone or text format
// that either driver could reinterpret, and millisecond precision is ample
// for account records. Times come back in UTC, truncated to the millisecond;
// CreateUser returns the truncated values so that what it returns equals
// what a later read returns.
//
// # PostgreSQL
//
// The PostgreSQL store (store/postgres), for several replicas sharing one
// database, applies the same migration files: they avoid dialect-only
// syntax (see package migrations). Both run the same SQL (package
// sqlstore), each with its dialect; this package keeps only what is
// SQLite's: opening the file, its pools and pragmas, and the mapping of
// its errors. Both return the records and sentinel errors of package store
// and pass the same test suite (package storetest).
package sqlite
