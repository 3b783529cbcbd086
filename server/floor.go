package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credshield/credshield/password"
)

// maxFloor bounds how far observed hash durations can raise the floor, so a
// stalled machine cannot make every later failure take minutes.
const maxFloor = 5 * time.Second

// floor is the least time a failed login takes. Every failure — unknown
// user, wrong password, disabled account, any stored scheme — is padded to
// it, so response timing tells nothing about which accounts exist or how
// their passwords were hashed. It only rises: at start it covers one
// verification of each stored hash class with a margin, and each real
// verification slower than it raises it. Safe for concurrent use.
type floor struct {
	d atomic.Int64 // nanoseconds

	mu         sync.Mutex
	calibrated map[string]bool // hash classes already measured; requires mu held
}

func newFloor(min time.Duration) *floor {
	f := &floor{calibrated: make(map[string]bool)}
	f.d.Store(int64(min))
	return f
}

func (f *floor) get() time.Duration { return time.Duration(f.d.Load()) }

// observe raises the floor to cover a verification that took d.
func (f *floor) observe(d time.Duration) {
	want := min(d+d/4+2*time.Millisecond, maxFloor)
	for {
		cur := f.d.Load()
		if int64(want) <= cur || f.d.CompareAndSwap(cur, int64(want)) {
			return
		}
	}
}

// pad waits until start+floor, or until ctx ends.
func (f *floor) pad(ctx context.Context, start time.Time) {
	wait := f.get() - time.Since(start)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// RefreshFloor measures one verification of every hash class stored in the
// user table not measured before (plus the current argon2id parameters),
// and raises the failure floor to cover the slowest. Imported bcrypt hashes
// are typically slower than argon2id; without this the first failure
// against such an account would stand out. New calls it once; the serve
// command calls it periodically so a `user import` into a running
// service's database is covered within a minute.
func (s *Server) RefreshFloor(ctx context.Context) error {
	s.floor.mu.Lock()
	defer s.floor.mu.Unlock()
	return s.calibrateFloorLocked(ctx)
}

// calibrateFloorLocked requires s.floor.mu held: two refreshes must not
// measure the same class at once, each stealing CPU from the other.
func (s *Server) calibrateFloorLocked(ctx context.Context) error {
	classes, err := s.users.HashClasses(ctx)
	if err != nil {
		return fmt.Errorf("server: calibrate failure floor: %w", err)
	}
	own, err := password.Check(s.dummy)
	if err != nil {
		return fmt.Errorf("server: calibrate failure floor: %w", err)
	}
	if !slices.Contains(classes, own) {
		classes = append(classes, own)
	}
	fresh := 0
	for _, class := range classes {
		if s.floor.calibrated[class] {
			continue
		}
		fresh++
		s.floor.calibrated[class] = true
		d, err := password.Calibrate(class)
		if err != nil {
			// A class we cannot compute is one we cannot verify either;
			// such users fail to log in, which the import step prevents.
			s.log.LogAttrs(ctx, slog.LevelWarn, "cannot calibrate hash class", slog.String("class", class), slog.String("error", err.Error()))
			continue
		}
		s.floor.observe(d)
	}
	if fresh > 0 {
		s.log.LogAttrs(ctx, slog.LevelInfo, "failure floor calibrated", slog.String("floor", s.floor.get().String()), slog.Int("new_hash_classes", fresh))
	}
	return nil
}
