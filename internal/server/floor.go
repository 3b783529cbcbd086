package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credshield/credshield/internal/password"
)

// maxFloor bounds the floor, so a stalled machine cannot make every failure
// take minutes.
const maxFloor = 5 * time.Second

// floor is the least time a failed login takes. Every failure — unknown
// user, wrong password, disabled account, any stored scheme — is padded to
// it, so response timing tells nothing about which accounts exist or how
// their passwords were hashed.
//
// It is set by calibration, never by the verifications of live traffic:
// one verification of every stored hash class (with a margin), measured at
// start and again every refresh, so it follows the machine down as well as
// up. An earlier version raised it to the slowest live verification and
// never lowered it: one verification stalled by CPU contention — which an
// attacker can cause — pinned every later failure at the cap. Safe for
// concurrent use.
type floor struct {
	min time.Duration // the configured --failure-floor
	d   atomic.Int64  // nanoseconds

	mu sync.Mutex // serialises calibrations
}

func newFloor(min time.Duration) *floor {
	f := &floor{min: min}
	f.d.Store(int64(min))
	return f
}

func (f *floor) get() time.Duration { return time.Duration(f.d.Load()) }

// set makes the floor cover the slowest measured verification with a
// margin, never below the configured minimum nor above maxFloor.
func (f *floor) set(slowest time.Duration) {
	f.d.Store(int64(min(max(f.min, slowest+slowest/4+2*time.Millisecond), maxFloor)))
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
// user table (plus the current argon2id parameters) and sets the failure
// floor to cover the slowest. Imported bcrypt hashes are typically slower
// than argon2id; without this, failures against such accounts would stand
// out. New calls it once; the serve command calls it every minute, so a
// `user import` into a running service's database is covered within a
// minute and a floor measured under load comes back down.
func (s *Server) RefreshFloor(ctx context.Context) error {
	s.floor.mu.Lock()
	defer s.floor.mu.Unlock()
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
	var slowest time.Duration
	for _, class := range classes {
		d, err := password.Calibrate(class)
		if err != nil {
			// A class we cannot compute is one we cannot verify either;
			// such users fail to log in, which the import step prevents.
			s.log.LogAttrs(ctx, slog.LevelWarn, "cannot calibrate hash class", slog.String("class", class), slog.String("error", err.Error()))
			continue
		}
		slowest = max(slowest, d)
	}
	before := s.floor.get()
	s.floor.set(slowest)
	after := s.floor.get()
	s.log.LogAttrs(ctx, floorLogLevel(before, after), "failure floor calibrated", slog.String("floor", after.String()), slog.String("was", before.String()), slog.Int("hash_classes", len(classes)))
	return nil
}

// floorLogLevel is the level at which a change of the failure floor from
// before to after is logged: info when it moved by more than 10%, debug
// otherwise. Calibration runs every minute and the measured time jitters
// by a few percent with the machine's load, so logging every change at
// info filled operators' logs with a line a minute that said nothing; a
// move beyond 10% means the stored hashes or the machine changed, which
// is worth seeing. Both the service's and the gateway's floors call it.
func floorLogLevel(before, after time.Duration) slog.Level {
	diff := after - before
	if diff < 0 {
		diff = -diff
	}
	if diff*10 > before {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}
