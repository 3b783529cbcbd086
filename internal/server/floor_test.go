package server

import (
	"log/slog"
	"testing"
	"time"
)

// TestFloorLogLevelQuietWithinTenPercent: recalibration every minute moves
// the floor by a few percent with the machine's load; only a move beyond
// 10% is worth an info line, the rest is debug.
func TestFloorLogLevelQuietWithinTenPercent(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		before, after time.Duration
		want          slog.Level
	}{
		{100 * ms, 100 * ms, slog.LevelDebug},
		{100 * ms, 105 * ms, slog.LevelDebug},
		{100 * ms, 95 * ms, slog.LevelDebug},
		{100 * ms, 110 * ms, slog.LevelDebug}, // exactly 10% is not "more than"
		{100 * ms, 111 * ms, slog.LevelInfo},
		{100 * ms, 89 * ms, slog.LevelInfo},
		{100 * ms, 5 * time.Second, slog.LevelInfo},
		{0, 0, slog.LevelDebug},
		{0, ms, slog.LevelInfo},
	} {
		if got := floorLogLevel(tc.before, tc.after); got != tc.want {
			t.Errorf("floorLogLevel(%v, %v) = %v, want %v", tc.before, tc.after, got, tc.want)
		}
	}
}
