package guard

import (
	"testing"
	"time"
)

func TestDetectorStuffingBurst(t *testing.T) {
	d, err := NewDetector(DefaultDetectorConfig())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	// Two hours of normal traffic: 1 success a second, a failure every 20 s.
	for i := 0; i < 7200; i++ {
		now = t0.Add(time.Duration(i) * time.Second)
		sig := SignalSuccess
		if i%20 == 0 {
			sig = SignalFailure
		}
		if st, _ := d.Observe(now, sig); st.UnderAttack {
			t.Fatalf("normal traffic flagged at %v: %+v", now.Sub(t0), st)
		}
	}
	st, _ := d.State(now)
	if st.Baseline < 2 || st.Baseline > 4.5 {
		t.Errorf("baseline %.2f failures/minute, want ≈3", st.Baseline)
	}

	// A stuffing burst: 20 attempts a second, 70% unknown names.
	attackStart := now
	var flaggedAt time.Time
	for i := 0; i < 600; i++ {
		now = attackStart.Add(time.Duration(i) * 50 * time.Millisecond)
		sig := SignalFailure
		if i%10 < 7 {
			sig = SignalUnknownFailure
		}
		st, changed := d.Observe(now, sig)
		if changed && st.UnderAttack {
			flaggedAt = now
		}
	}
	if flaggedAt.IsZero() {
		t.Fatal("burst not detected")
	}
	if lag := flaggedAt.Sub(attackStart); lag > 5*time.Second {
		t.Errorf("detected after %v", lag)
	}
	// It stays on while the burst continues, and for the cooldown after.
	end := now
	if st, _ := d.State(end.Add(time.Minute)); !st.UnderAttack {
		t.Error("stood down during the cooldown")
	}
	var offAt time.Time
	for m := 1; m <= 12; m++ {
		now = end.Add(time.Duration(m) * time.Minute)
		if st, changed := d.Observe(now, SignalSuccess); changed && !st.UnderAttack {
			offAt = now
		}
	}
	if offAt.IsZero() {
		t.Fatal("never stood down after the burst")
	}
	if q := offAt.Sub(end); q < 5*time.Minute || q > 8*time.Minute {
		t.Errorf("stood down %v after the burst, want after the 5 min cooldown", q)
	}
	// The attack did not poison the baseline.
	if st, _ := d.State(now); st.Baseline > 5 {
		t.Errorf("baseline %.2f after the attack", st.Baseline)
	}
}

func TestDetectorThresholds(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		fail   int // failures within 30 s
		unk    int // of which unknown
		attack bool
	}{
		{"quiet", 5, 5, false},
		{"below the minimum, all unknown", 29, 29, false},
		{"at the minimum", 30, 0, true},
		{"many unknown names", 30, 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := NewDetector(DefaultDetectorConfig())
			var st DetectorState
			for i := 0; i < tt.fail; i++ {
				sig := SignalFailure
				if i < tt.unk {
					sig = SignalUnknownFailure
				}
				st, _ = d.Observe(t0.Add(time.Duration(i)*time.Second), sig)
			}
			if st.UnderAttack != tt.attack {
				t.Errorf("under attack = %v, want %v (%+v)", st.UnderAttack, tt.attack, st)
			}
		})
	}
	bad := DefaultDetectorConfig()
	bad.Window = 15 * time.Second
	if _, err := NewDetector(bad); err == nil {
		t.Error("window not a multiple of the bucket accepted")
	}
}

// TestDetectorUnknownRatio: on a busy service whose usual failure rate
// sets a high bar, a burst of mostly unknown names still counts as an
// attack, while the same volume of ordinary failures does not.
func TestDetectorUnknownRatio(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	warm := func() (*Detector, time.Time) {
		d, _ := NewDetector(DefaultDetectorConfig())
		now := t0
		for i := 0; i < 3*3600; i++ { // 20 failures a minute for three hours
			now = t0.Add(time.Duration(i) * time.Second)
			sig := SignalSuccess
			if i%3 == 0 {
				sig = SignalFailure
			}
			d.Observe(now, sig)
		}
		return d, now
	}
	for _, tt := range []struct {
		name    string
		unknown bool
		attack  bool
	}{
		{"ordinary failures at twice the usual rate", false, false},
		{"the same volume, names never seen", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, now := warm()
			if st, _ := d.State(now); st.UnderAttack || st.Baseline < 15 {
				t.Fatalf("after warm-up: %+v", st)
			}
			var st DetectorState
			for i := 0; i < 40; i++ { // 40 failures within 40 s, on top of the usual ones
				sig := SignalFailure
				if tt.unknown {
					sig = SignalUnknownFailure
				}
				st, _ = d.Observe(now.Add(time.Duration(i)*time.Second), sig)
			}
			if st.UnderAttack != tt.attack {
				t.Errorf("under attack = %v, want %v (%+v)", st.UnderAttack, tt.attack, st)
			}
		})
	}
}
