package gate

import (
	"testing"
	"time"
)

func TestSampler(t *testing.T) {
	s := &sampler{perSecond: 3}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0},
		{100 * time.Millisecond, true, 0},
		{200 * time.Millisecond, true, 0},
		{300 * time.Millisecond, false, 0},
		{900 * time.Millisecond, false, 0},
		{time.Second, true, 2}, // a new second reports what was dropped
		{1100 * time.Millisecond, true, 0},
	}
	for i, st := range steps {
		ok, n := s.allow(t0.Add(st.at))
		if ok != st.ok || n != st.suppressed {
			t.Errorf("step %d at %v: allow = %v, %d; want %v, %d", i, st.at, ok, n, st.ok, st.suppressed)
		}
	}
}
