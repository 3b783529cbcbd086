package gate

import (
	"sync"
	"time"
)

// sampler lets at most perSecond events through in each wall-clock second
// and counts the rest. A stuffing run produces thousands of denials a
// second; logging each one would turn the attack into a log flood and cost
// more than the denial itself. Metrics count every event; the log keeps a
// sample with the number suppressed since the last record. Safe for
// concurrent use.
type sampler struct {
	perSecond int

	mu         sync.Mutex
	second     int64 // unix second of the current window; requires mu held
	used       int   // events let through in it; requires mu held
	suppressed int   // events dropped since the last one let through; requires mu held
}

// allow reports whether an event at now may be logged and, if so, how many
// were suppressed before it.
func (s *sampler) allow(now time.Time) (ok bool, suppressed int) {
	sec := now.Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec != s.second {
		s.second, s.used = sec, 0
	}
	if s.used >= s.perSecond {
		s.suppressed++
		return false, 0
	}
	s.used++
	suppressed, s.suppressed = s.suppressed, 0
	return true, suppressed
}
