package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/credshield/credshield/internal/password"
)

// RefreshFloor measures one verification of every hash class stored in the
// user table (plus the current argon2id parameters) and sets the failure
// floor to cover the slowest. Imported bcrypt hashes are typically slower
// than argon2id; without this, failures against such accounts would stand
// out. New calls it once; the serve command calls it every minute, so a
// `user import` into a running service's database is covered within a
// minute and a floor measured under load comes back down.
func (s *Server) RefreshFloor(ctx context.Context) error {
	s.calibrating.Lock()
	defer s.calibrating.Unlock()
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
	before := s.floor.Get()
	s.floor.Set(slowest)
	after := s.floor.Get()
	s.log.LogAttrs(ctx, floorLogLevel(before, after), "failure floor calibrated", slog.String("floor", after.String()), slog.String("was", before.String()), slog.Int("hash_classes", len(classes)))
	return nil
}

// floorLogLevel is the level at which a change of the failure floor from
// before to after is logged: info when it moved by more than 10%, debug
// otherwise. Calibration runs every minute and the measured time jitters
// by a few percent with the machine's load, so logging every change at
// info filled operators' logs with a line a minute that said nothing; a
// move beyond 10% means the stored hashes or the machine changed, which
// is worth seeing.
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
