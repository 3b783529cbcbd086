package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"io/fs"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/store/migrations"
	"github.com/credshield/credshield/internal/store/storetest"
)

var t0 = storetest.T0

// openTest opens a Store on a schema of its own for t.
func openTest(t *testing.T) (*Store, string) {
	return storetest.OpenFresh(t, storetest.PostgresDSN, Open)
}

// TestStore runs the backend-independent store tests (package storetest),
// also with several stores on one schema: replicas see each other's writes
// at once and serialise their races.
func TestStore(t *testing.T) {
	storetest.RunBackend(t, storetest.PostgresDSN, Open)
}

// TestOpenMigratesAndReopens opens one schema several times, in sequence
// and then concurrently (replicas starting together): every migration is
// applied exactly once and the data survives.
func TestOpenMigratesAndReopens(t *testing.T) {
	s, dsn := openTest(t)
	ctx := t.Context()
	want, err := s.CreateUser(ctx, storetest.NewUser("alice"), t0)
	if err != nil {
		t.Fatal(err)
	}
	const replicas = 4
	stores := make([]*Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open %d: %v", i, err)
		}
		defer stores[i].Close()
		got, err := stores[i].UserByName(ctx, "alice")
		if err != nil || got != want {
			t.Errorf("replica %d: UserByName = %+v, %v; want %+v", i, got, err, want)
		}
	}
	files, _ := fs.Glob(migrations.FS, "*.sql")
	var version, applied int64
	if err := s.db.QueryRowContext(ctx,
		`SELECT MAX(version_id), COUNT(*) FILTER (WHERE version_id > 0) FROM goose_db_version`).Scan(&version, &applied); err != nil {
		t.Fatal(err)
	}
	if version != int64(len(files)) || applied != int64(len(files)) {
		t.Errorf("schema version %d with %d migrations recorded, want %d and %d", version, applied, len(files), len(files))
	}
}

// TestMigrationsDownUp runs every Down section on PostgreSQL and then Up
// again, as TestMigrationsDownUp does on SQLite.
func TestMigrationsDownUp(t *testing.T) {
	s, dsn := openTest(t)
	ctx := t.Context()
	p, err := newProvider(ctx, s.db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("DownTo(0): %v", err)
	}
	var exists bool
	if err := s.db.QueryRowContext(ctx, `SELECT to_regclass('users') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("users table still present after DownTo(0)")
	}
	s2, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open after down: %v", err)
	}
	defer s2.Close()
	if _, err := s2.CreateUser(ctx, storetest.NewUser("alice"), t0); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	storetest.OpenFails(t, storetest.PostgresDSN, Open, map[string]string{
		"invalid dsn":       "postgres://%zz",
		"nothing listening": "postgres://postgres:" + storetest.TestPassword + "@" + closedAddr(t) + "/test?sslmode=disable&connect_timeout=2",
		"schema missing":    strings.Replace(dsn, "search_path=credshield_test_", "search_path=missing_", 1),
	})
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestDatabaseGoesAway runs the store through a loopback proxy and cuts it:
// every call then fails with an error (never a panic, never a hang past its
// context), and works again once the database is reachable.
func TestDatabaseGoesAway(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	p := newProxy(t, dsn)
	ctx := t.Context()
	s, err := Open(ctx, p.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.CreateUser(ctx, storetest.NewUser("alice"), t0)
	if err != nil {
		t.Fatal(err)
	}

	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Ping", s.Ping},
		{"UserByName", func(ctx context.Context) error { _, err := s.UserByName(ctx, "alice"); return err }},
		{"CreateUser", func(ctx context.Context) error { _, err := s.CreateUser(ctx, storetest.NewUser("bob"), t0); return err }},
		{"ReplaceHash", func(ctx context.Context) error { return s.ReplaceHash(ctx, u.ID, u.PasswordHash, "$x", "x", t0) }},
		{"RotateRefreshToken", func(ctx context.Context) error {
			_, err := s.RotateRefreshToken(ctx, strings.Repeat("0", 64), strings.Repeat("1", 64), t0, t0)
			return err
		}},
		{"JTIRevoked", func(ctx context.Context) error { _, err := s.JTIRevoked(ctx, "j", t0); return err }},
	}
	for _, mode := range []struct {
		name string
		down func()
	}{
		{"refused", p.cut},    // connections reset: a crashed server
		{"blackhole", p.hang}, // connections accepted, never answered: a partition
	} {
		mode.down()
		for _, c := range calls {
			t.Run(mode.name+"/"+c.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
				defer cancel()
				start := time.Now()
				err := c.call(ctx)
				if err == nil {
					t.Fatal("succeeded with the database unreachable")
				}
				if elapsed := time.Since(start); elapsed > 2*time.Second {
					t.Errorf("returned after %v, want about the 300ms deadline", elapsed)
				}
				if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrConflict) {
					t.Errorf("outage reported as a store answer: %v", err)
				}
				var netErr net.Error
				if !errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &netErr) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, driver.ErrBadConn) {
					t.Errorf("err = %v (%T): want a context or connection error", err, err)
				}
			})
		}
	}

	p.restore()
	got, err := s.UserByName(ctx, "alice")
	if err != nil || got != u {
		t.Fatalf("after the database came back: %+v, %v", got, err)
	}
	if _, err := s.UserByName(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a write made during the outage exists: %v", err)
	}
}

// proxy forwards loopback TCP connections to PostgreSQL until cut.
type proxy struct {
	dsn    string
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool // refuse: close new connections at once
	hung   bool // blackhole: hold new connections without forwarding
	conns  []net.Conn
}

func newProxy(t *testing.T, dsn string) *proxy {
	t.Helper()
	host := dsnHost(t, dsn)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: host, dsn: strings.Replace(dsn, host, ln.Addr().String(), 1)}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func dsnHost(t *testing.T, dsn string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(dsn, "postgres://")
	if !ok {
		rest, ok = strings.CutPrefix(dsn, "postgresql://")
	}
	if !ok {
		t.Skip("proxy test needs a URL DSN")
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if _, _, err := net.SplitHostPort(rest); err != nil {
		t.Skip("proxy test needs host:port in the DSN")
	}
	return rest
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.hung {
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			continue
		}
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go pipe(c, up)
		go pipe(up, c)
	}
}

func pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
}

// cut drops every forwarded connection and refuses new ones.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// hang drops every forwarded connection and holds new ones unanswered.
func (p *proxy) hang() {
	p.cut()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = true
}

func (p *proxy) restore() {
	p.cut()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down, p.hung = false, false
}

// TestAdvisoryLock has two replicas take one lock: the second waits until
// the first returns, a different key does not wait, and a waiter gives up
// at its context's deadline.
func TestAdvisoryLock(t *testing.T) {
	a, dsn := openTest(t)
	b, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	const key = 0x6372656473 // arbitrary

	var (
		holding atomic.Bool
		overlap atomic.Bool
		order   []string
		mu      sync.Mutex
	)
	record := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	entered := make(chan struct{})
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := a.WithAdvisoryLock(ctx, key, func() error {
			holding.Store(true)
			record("a in")
			close(entered)
			<-release
			record("a out")
			holding.Store(false)
			return nil
		})
		if err != nil {
			t.Errorf("a: %v", err)
		}
	})
	<-entered

	// Another key is independent.
	if err := b.WithAdvisoryLock(ctx, key+1, func() error { return nil }); err != nil {
		t.Fatalf("other key: %v", err)
	}
	// A waiter gives up at its deadline.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	ran := false
	err = b.WithAdvisoryLock(short, key, func() error { ran = true; return nil })
	if err == nil || ran || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiter past its deadline: ran %v, err %v; want context.DeadlineExceeded", ran, err)
	}

	waiting := make(chan struct{})
	wg.Go(func() {
		close(waiting)
		errFn := errors.New("fn failed")
		err := b.WithAdvisoryLock(ctx, key, func() error {
			if holding.Load() {
				overlap.Store(true)
			}
			record("b in")
			return errFn
		})
		if !errors.Is(err, errFn) {
			t.Errorf("b: err = %v, want fn's error", err)
		}
	})
	<-waiting
	// Release a only once the server shows b waiting for the lock.
	for {
		var waits bool
		if err := a.db.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			   AND ((classid::bigint << 32) | objid::bigint) = $1)`, int64(key)).Scan(&waits); err != nil {
			t.Fatal(err)
		}
		if waits {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	if overlap.Load() {
		t.Error("b entered while a held the lock")
	}
	if got := strings.Join(order, ", "); got != "a in, a out, b in" {
		t.Errorf("order %q, want a in, a out, b in", got)
	}
	// The lock is free again (released with the transaction).
	if err := a.WithAdvisoryLock(ctx, key, func() error { return nil }); err != nil {
		t.Errorf("relock: %v", err)
	}
}
