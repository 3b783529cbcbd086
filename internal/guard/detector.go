package guard

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// DefaultSyncEvery is how often a Detector with SharedCounts exchanges its
// counts with the other replicas (Detector.Run).
const DefaultSyncEvery = time.Second

// syncTimeout bounds one exchange with SharedCounts; the implementation
// normally gives up much sooner. Only the detector's own goroutine (Run)
// waits for it, never a login.
const syncTimeout = time.Second

// Signal is what one finished login attempt tells the detector.
type Signal int

// Signals, from the server's view after the password check.
const (
	SignalSuccess        Signal = iota
	SignalFailure               // wrong password for an existing account
	SignalUnknownFailure        // the username does not exist
)

// DetectorConfig tunes the attack detector. The zero value is not usable;
// start from DefaultDetectorConfig.
type DetectorConfig struct {
	// Window is the span the current rates are measured over, in Buckets.
	Window time.Duration
	Bucket time.Duration
	// MinFailures is the least number of failures in a Window that can
	// mean an attack; below it the service is never "under attack", so a
	// quiet service does not flip on three typos.
	MinFailures int
	// Factor: failures in a Window above Factor × the baseline rate mean
	// an attack.
	Factor float64
	// UnknownRatio: with at least MinFailures failures in a Window, a share
	// of unknown usernames above it means an attack (combo lists are mostly
	// names the service never had).
	UnknownRatio float64
	// Cooldown is how long the signals must stay below half their
	// thresholds before the detector stands down (hysteresis).
	Cooldown time.Duration
	// BaselineHalfLife is how fast the baseline failure rate follows the
	// traffic while not under attack.
	BaselineHalfLife time.Duration
	// Shared, if set, adds this detector's counts to those of every
	// replica (redisstore.DetectorCounts), so the thresholds apply to the
	// whole service as on one node; nil counts this process alone. The
	// exchange runs in Detector.Run, which the caller must start.
	Shared SharedCounts
	// SyncEvery is how often Run exchanges counts with Shared: between
	// exchanges failures are counted locally and sent with the next one,
	// so a login never waits for the shared store. Zero means
	// DefaultSyncEvery.
	SyncEvery time.Duration
}

// DefaultDetectorConfig returns a detector that needs 30 failures a minute,
// five times the usual failure rate or mostly unknown names, to switch on,
// and five quiet minutes to switch off.
func DefaultDetectorConfig() DetectorConfig {
	return DetectorConfig{
		Window:           time.Minute,
		Bucket:           10 * time.Second,
		MinFailures:      30,
		Factor:           5,
		UnknownRatio:     0.5,
		Cooldown:         5 * time.Minute,
		BaselineHalfLife: time.Hour,
	}
}

// Validate reports settings that cannot work.
func (c DetectorConfig) Validate() error {
	switch {
	case c.Bucket <= 0 || c.Window < c.Bucket || c.Window%c.Bucket != 0:
		return fmt.Errorf("guard: detector window %v must be a positive multiple of the bucket %v", c.Window, c.Bucket)
	case c.MinFailures < 1:
		return fmt.Errorf("guard: detector minimum failures %d must be positive", c.MinFailures)
	case c.Factor <= 1:
		return fmt.Errorf("guard: detector factor %v must exceed 1", c.Factor)
	case c.UnknownRatio <= 0 || c.UnknownRatio > 1:
		return fmt.Errorf("guard: detector unknown-username ratio %v must be in (0, 1]", c.UnknownRatio)
	case c.Cooldown < 0 || c.BaselineHalfLife <= 0:
		return fmt.Errorf("guard: detector cooldown and half-life must be positive")
	case c.SyncEvery < 0:
		return fmt.Errorf("guard: detector sync interval %v must not be negative", c.SyncEvery)
	}
	return nil
}

// DetectorState is a snapshot of the detector.
type DetectorState struct {
	UnderAttack bool
	// Failures and Unknown count the current Window.
	Failures, Unknown int
	// Baseline is the usual number of failures per Window.
	Baseline float64
	// Since is when the current state began.
	Since time.Time
}

// Detector watches the global failure rate and the share of unknown
// usernames against a moving baseline and says when the service is under a
// credential-stuffing attack. A botnet that tries each pair once from
// 10^5 addresses passes every per-address budget; it does not pass this,
// because it cannot hide the failures it causes in total. The guard then
// asks untrusted clients for a costly challenge. Time is a parameter of
// every method but Run.
//
// With DetectorConfig.Shared the counts are those of every replica. The
// exchange happens only in Run, a loop the caller starts once in a
// goroutine of its own: every SyncEvery it sends the failures seen here
// since the last exchange and replaces the window with the shared counts
// (Sync). Observe and State, which logins call, only read and write
// memory, so a shared store that is slow or stalled never holds a login
// up. When an exchange fails (the store is away) the detector keeps
// counting locally and Run tries again at its next tick; the failures it
// could not send are not sent again. Until Run is started, or when Shared
// is nil, the detector counts this process alone.
//
// The zero value is not usable; build one with NewDetector. All methods
// are safe for concurrent use.
type Detector struct {
	cfg DetectorConfig

	mu       sync.Mutex
	buckets  []bucket // ring; requires mu held
	baseline float64  // failures per Window; requires mu held
	lastTick int64    // bucket index of the last update; requires mu held
	attack   bool     // requires mu held
	since    time.Time
	quietAt  time.Time   // when the signals last dropped below the exit thresholds; zero while loud
	pending  BucketCount // with Shared: counted here, not yet sent; requires mu held

	// syncMu serialises exchanges (Sync). Only Sync takes it, never
	// while holding mu, so a stalled exchange never blocks Observe.
	syncMu sync.Mutex
}

type bucket struct {
	index             int64
	failures, unknown int
}

// NewDetector returns a Detector; it starts not under attack with a
// baseline of zero.
func NewDetector(cfg DetectorConfig) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.SyncEvery == 0 {
		cfg.SyncEvery = DefaultSyncEvery
	}
	n := int(cfg.Window / cfg.Bucket)
	return &Detector{cfg: cfg, buckets: make([]bucket, n), lastTick: -1}, nil
}

// Observe records one finished attempt at now and returns the state after
// it, and whether this observation changed it (for the log event).
func (d *Detector) Observe(now time.Time, s Signal) (DetectorState, bool) {
	switch s {
	case SignalFailure:
		return d.observe(now, 1, 0)
	case SignalUnknownFailure:
		return d.observe(now, 1, 1)
	}
	return d.observe(now, 0, 0)
}

// State returns the state at now, standing down if the cooldown has
// passed since the last observation.
func (d *Detector) State(now time.Time) (DetectorState, bool) {
	return d.observe(now, 0, 0)
}

// observe counts failures and unknown at now and evaluates. It never
// waits on the shared store: what it counts is sent by the next Sync.
func (d *Detector) observe(now time.Time, failures, unknown int) (DetectorState, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.advanceLocked(now)
	d.addLocked(now, failures, unknown)
	if d.cfg.Shared != nil {
		d.pending.Failures += failures
		d.pending.Unknown += unknown
	}
	changed := d.evaluateLocked(now)
	return d.stateLocked(now), changed
}

// Run exchanges counts with DetectorConfig.Shared at once and then every
// SyncEvery, until ctx is done; each exchange gives up after a second.
// Start it once, in a goroutine of its own, with the context of the
// command that serves logins. Without Shared it returns at once. An
// exchange that fails leaves the detector counting locally (see
// Detector); the state an exchange brings is evaluated, and a change
// reported, by the next Observe or State.
func (d *Detector) Run(ctx context.Context) {
	if d.cfg.Shared == nil {
		return
	}
	tick := time.NewTicker(d.cfg.SyncEvery)
	defer tick.Stop()
	for {
		_ = d.Sync(ctx, time.Now()) // on error: counting locally until the next tick
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Sync makes one exchange with DetectorConfig.Shared at now: it sends the
// failures counted here since the last exchange and replaces the window
// with the shared counts, plus what was counted here meanwhile. Run calls
// it; tests call it to step through time. Logins never wait for it: the
// detector's lock is not held during the exchange. Without Shared it does
// nothing.
func (d *Detector) Sync(ctx context.Context, now time.Time) error {
	if d.cfg.Shared == nil {
		return nil
	}
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	d.mu.Lock()
	send := d.pending
	d.pending = BucketCount{}
	d.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	counts, err := d.cfg.Shared.Add(ctx, now, d.cfg.Bucket, len(d.buckets), send.Failures, send.Unknown)
	cancel()
	if err == nil && len(counts) != len(d.buckets) {
		err = fmt.Errorf("%d buckets for a window of %d", len(counts), len(d.buckets))
	}
	if err != nil {
		// What was sent is in the ring already: the detector counts
		// locally until an exchange succeeds.
		return fmt.Errorf("guard: detector exchange: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.applyLocked(now, counts)
	return nil
}

// addLocked counts into now's bucket. Requires d.mu held.
func (d *Detector) addLocked(now time.Time, failures, unknown int) {
	b := &d.buckets[d.slotLocked(now)]
	b.failures += failures
	b.unknown += unknown
}

// applyLocked replaces the window ending at now with the shared counts,
// plus what was counted here during the exchange. The buckets that
// completed since the last update get their shared counts before they are
// folded into the baseline, so every replica folds the same numbers. If
// logins moved the window past now during the exchange, the counts end at
// the window's newest bucket instead, so it is not overwritten by an old
// one. Requires d.mu held.
func (d *Detector) applyLocked(now time.Time, counts []BucketCount) {
	n := int64(len(d.buckets))
	cur := max(d.index(now), d.lastTick)
	put := func() {
		for i, c := range counts {
			idx := cur - n + 1 + int64(i)
			d.buckets[idx%n] = bucket{index: idx, failures: c.Failures, unknown: c.Unknown}
		}
	}
	if d.lastTick >= 0 && cur >= d.lastTick && cur-d.lastTick < n {
		put() // overwrites only buckets of the same index or already folded
	}
	d.advanceLocked(now)
	put()
	newest := &d.buckets[cur%n]
	newest.failures += d.pending.Failures
	newest.unknown += d.pending.Unknown
}

func (d *Detector) index(now time.Time) int64 { return now.UnixNano() / int64(d.cfg.Bucket) }

func (d *Detector) slotLocked(now time.Time) int {
	return int(d.index(now) % int64(len(d.buckets)))
}

// advanceLocked clears buckets that fell out of the window and folds each
// completed bucket into the baseline while not under attack. Requires
// d.mu held.
func (d *Detector) advanceLocked(now time.Time) {
	cur := d.index(now)
	if d.lastTick < 0 {
		d.lastTick = cur
		d.buckets[d.slotLocked(now)] = bucket{index: cur}
		return
	}
	if cur <= d.lastTick {
		return
	}
	n := int64(len(d.buckets))
	alpha := 1 - math.Exp2(-float64(d.cfg.Bucket)/float64(d.cfg.BaselineHalfLife))
	for i := d.lastTick; i < cur && i < d.lastTick+n+1; i++ {
		done := d.buckets[i%n]
		if done.index == i && !d.attack {
			perWindow := float64(done.failures) * float64(n)
			d.baseline += alpha * (perWindow - d.baseline)
		} else if !d.attack {
			d.baseline -= alpha * d.baseline
		}
	}
	for i := max(d.lastTick+1, cur-n+1); i <= cur; i++ {
		d.buckets[i%n] = bucket{index: i}
	}
	d.lastTick = cur
}

func (d *Detector) countsLocked(now time.Time) (failures, unknown int) {
	lo := d.index(now) - int64(len(d.buckets)) + 1
	for _, b := range d.buckets {
		if b.index >= lo {
			failures += b.failures
			unknown += b.unknown
		}
	}
	return failures, unknown
}

// evaluateLocked applies the thresholds with hysteresis. Requires d.mu
// held.
func (d *Detector) evaluateLocked(now time.Time) bool {
	f, u := d.countsLocked(now)
	ratio := 0.0
	if f > 0 {
		ratio = float64(u) / float64(f)
	}
	enter := float64(f) >= max(float64(d.cfg.MinFailures), d.cfg.Factor*d.baseline) ||
		(f >= d.cfg.MinFailures && ratio >= d.cfg.UnknownRatio)
	if !d.attack {
		if enter {
			d.attack, d.since, d.quietAt = true, now, time.Time{}
			return true
		}
		return false
	}
	quiet := float64(f) < max(float64(d.cfg.MinFailures), d.cfg.Factor*d.baseline)/2 &&
		(f < d.cfg.MinFailures/2 || ratio < d.cfg.UnknownRatio/2)
	switch {
	case !quiet:
		d.quietAt = time.Time{}
	case d.quietAt.IsZero():
		d.quietAt = now
	case now.Sub(d.quietAt) >= d.cfg.Cooldown:
		d.attack, d.since, d.quietAt = false, now, time.Time{}
		return true
	}
	return false
}

func (d *Detector) stateLocked(now time.Time) DetectorState {
	f, u := d.countsLocked(now)
	return DetectorState{UnderAttack: d.attack, Failures: f, Unknown: u, Baseline: d.baseline, Since: d.since}
}
