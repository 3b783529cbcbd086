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
