package simulate

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// attackerAddresses lists the addresses a scenario's attacker sends from;
// pair i comes from address i mod len. Botnet addresses spread over
// distinct /16s (first octets 1..95 but 10), a few attempts each.
func attackerAddresses(scenario string, botnet int, seed uint64) ([]string, error) {
	switch scenario {
	case ScenarioSingleIP:
		return []string{"203.0.113.7"}, nil
	case ScenarioSubnet:
		out := make([]string, 256)
		for i := range out {
			out[i] = fmt.Sprintf("203.0.113.%d", i)
		}
		return out, nil
	case ScenarioBotnet, ScenarioLowAndSlow:
		var s16 []int
		for a := 1; a <= 95; a++ {
			if a == 10 {
				continue
			}
			for b := range 256 {
				s16 = append(s16, a<<8|b)
			}
		}
		rng := mrand.New(mrand.NewPCG(seed, 0x9e3779b97f4a7c15))
		rng.Shuffle(len(s16), func(i, j int) { s16[i], s16[j] = s16[j], s16[i] })
		out := make([]string, botnet)
		for i := range out {
			n := s16[i%len(s16)]
			out[i] = fmt.Sprintf("%d.%d.%d.%d", n>>8, n&255, rng.IntN(256), rng.IntN(254)+1)
		}
		return out, nil
	}
	return nil, fmt.Errorf("scenario %q: want one of %s", scenario, strings.Join(Scenarios, ", "))
}

// homeAddress is legitimate user u's usual address, alone in its /24 and
// far from every attacker range.
func homeAddress(u int) string {
	return fmt.Sprintf("100.%d.%d.10", 64+(u>>8)&63, u&255)
}

// attack is the shared state of one attacker run.
type attack struct {
	cal      Calibration
	budget   time.Duration
	duration time.Duration
	total    int
	start    time.Time

	next, requests, evals, solved, rejected atomic.Int64
	validTried                              atomic.Int64

	mu          sync.Mutex
	compromised map[string]bool
	timeline    []Second
}

func (a *attack) spent() time.Duration { return a.cal.cost(a.requests.Load(), a.evals.Load()) }

// progress is how far the attack is toward whichever bound ends it first:
// the combo list, the budget or the clock.
func (a *attack) progress(now time.Time) float64 {
	return max(float64(a.next.Load())/float64(a.total), float64(a.spent())/float64(a.budget),
		float64(now.Sub(a.start))/float64(a.duration))
}

// status reports how far the attack has come at now.
func (a *attack) status(now time.Time, scenario, defence string) Status {
	a.mu.Lock()
	compromised := len(a.compromised)
	a.mu.Unlock()
	st := Status{
		Scenario: scenario, Defence: defence,
		Attempts: int(min(a.next.Load(), int64(a.total))), Pairs: a.total,
		Compromised: compromised, Spent: a.spent(), Budget: a.budget,
		Elapsed: now.Sub(a.start),
	}
	if p := min(a.progress(now), 1); p > 0 {
		st.ETA = time.Duration(float64(st.Elapsed) * (1 - p) / p)
	}
	return st
}

// reportStatus calls o.Status every StatusEvery until done is closed.
func (a *attack) reportStatus(o Options, scenario, defence string, done <-chan struct{}) {
	if o.Status == nil {
		return
	}
	t := time.NewTicker(StatusEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			o.Status(a.status(now, scenario, defence))
		}
	}
}

func (a *attack) record(ans answer) {
	a.requests.Add(1)
	if ans.kind == KindChallenged || ans.kind == KindDenied {
		a.rejected.Add(1)
	}
	sec := int(time.Since(a.start) / time.Second)
	a.mu.Lock()
	for len(a.timeline) <= sec {
		a.timeline = append(a.timeline, Second{})
	}
	a.timeline[sec][ans.kind]++
	a.mu.Unlock()
}

// worker tries pairs until the list, the budget or ctx runs out, solving
// every challenge it is given with the real solver.
func (a *attack) worker(ctx context.Context, c *client, pop *Population, addrs []string, sv solver, solveSem chan struct{}, pause time.Duration) {
	for ctx.Err() == nil && a.spent() < a.budget {
		i := int(a.next.Add(1) - 1)
		if i >= len(pop.Combo) {
			return
		}
		p, ip := pop.Combo[i], addrs[i%len(addrs)]
		if p.Valid {
			a.validTried.Add(1)
		}
		ans := c.login(ctx, ip, p.Username, p.Password, "", "", "")
		a.record(ans)
		for round := 0; ans.kind == KindChallenged && round < 2 && a.spent() < a.budget; round++ {
			select {
			case solveSem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			if a.spent() >= a.budget {
				// The budget ran out while this worker waited for a core.
				<-solveSem
				return
			}
			sol, n, err := sv.solve(ctx, ans.challenge)
			<-solveSem
			a.evals.Add(int64(n))
			if err != nil {
				break
			}
			a.solved.Add(1)
			ans = c.login(ctx, ip, p.Username, p.Password, "", ans.challenge, sol)
			a.record(ans)
		}
		if ans.kind == KindSuccess && p.Valid {
			a.mu.Lock()
			a.compromised[p.Username] = true
			a.mu.Unlock()
		}
		if pause > 0 {
			sleep(ctx, pause)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// paced runs n logins, 16 at most in flight, login j once due(j/n)
// holds (or done is closed, or ctx ends) and at least 1/LegitRate seconds
// after the one before: people arrive one by one, not in the bursts that
// an attack's progress makes (a budget-bound attack advances a step per
// solved challenge, and a schedule fixed in advance would release every
// login it held back at once). It returns when every login has finished.
func (l *legit) paced(ctx context.Context, o Options, n int, due func(share float64) bool, done <-chan struct{}) {
	rng := mrand.New(mrand.NewPCG(o.Seed, 42))
	sem := make(chan struct{}, 16)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	spacing := time.Duration(float64(time.Second) / o.LegitRate)
	notBefore := time.Now()
	var wg sync.WaitGroup
	for j := 0; j < n && ctx.Err() == nil; j++ {
		for waiting := true; waiting && !due(float64(j)/float64(n)); {
			select {
			case <-tick.C:
			case <-done:
				waiting = false
			case <-ctx.Done():
				waiting = false
			}
		}
		if wait := time.Until(notBefore); wait > 0 {
			sleep(ctx, wait)
		}
		notBefore = time.Now().Add(spacing)
		sem <- struct{}{}
		u, lr := j%o.LegitUsers, mrand.New(mrand.NewPCG(rng.Uint64(), rng.Uint64()))
		wg.Go(func() {
			defer func() { <-sem }()
			l.login(ctx, lr, u)
		})
	}
	wg.Wait()
}

// legit is the legitimate users' side of one run.
type legit struct {
	c          *client
	pop        *Population
	useDevices bool
	solver     solver
	solveSem   chan struct{} // shared with the attacker: solving never takes every core
	requests   atomic.Int64

	mu                                                 sync.Mutex
	devices                                            []string
	known, knownOK, knownChallenged, fresh, freshOK, n int
	latencies, knownLatencies                          []float64
}

// warmUp logs every legitimate user in once from home, before the attack,
// so that each has a device credential and a known network.
func (l *legit) warmUp(ctx context.Context, users int) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for u := range users {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ans := l.c.login(ctx, homeAddress(u), l.pop.Usernames[u], l.pop.Passwords[u], "", "", "")
			l.requests.Add(1)
			if ans.kind == KindSuccess && l.useDevices {
				l.mu.Lock()
				l.devices[u] = ans.deviceToken
				l.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// attempt logs user u in once with pw, solving up to two challenges; it
// reports the final answer and whether a challenge was asked.
func (l *legit) attempt(ctx context.Context, ip string, u int, pw, device string) (answer, bool) {
	name := l.pop.Usernames[u]
	ans := l.c.login(ctx, ip, name, pw, device, "", "")
	l.requests.Add(1)
	challenged := false
	for round := 0; ans.kind == KindChallenged && round < 2; round++ {
		challenged = true
		select {
		case l.solveSem <- struct{}{}:
		case <-ctx.Done():
			return ans, challenged
		}
		sol, _, err := l.solver.solve(ctx, ans.challenge)
		<-l.solveSem
		if err != nil {
			break
		}
		ans = l.c.login(ctx, ip, name, pw, device, ans.challenge, sol)
		l.requests.Add(1)
	}
	return ans, challenged
}

// login is one legitimate login: 5% type a wrong password first, 10% come
// from a new device and network. It succeeds when accepted within two
// tries.
func (l *legit) login(ctx context.Context, rng *mrand.Rand, u int) {
	typo, fresh := rng.Float64() < 0.05, rng.Float64() < 0.10
	ip, device := homeAddress(u), ""
	l.mu.Lock()
	if l.useDevices {
		device = l.devices[u]
	}
	l.mu.Unlock()
	if fresh {
		r := rng.Uint32()
		ip, device = fmt.Sprintf("198.%d.%d.%d", 18+r&1, (r>>1)&255, (r>>9)%254+1), ""
	}
	tries := []string{l.pop.Passwords[u], l.pop.Passwords[u]}
	if typo {
		tries[0] = "not-" + l.pop.Passwords[u]
	}
	ok, challenged := false, false
	var latency float64
	for _, pw := range tries {
		ans, ch := l.attempt(ctx, ip, u, pw, device)
		challenged = challenged || ch
		if ans.kind == KindSuccess {
			ok, latency = pw == l.pop.Passwords[u], ms(ans.latency)
			if !fresh && l.useDevices && ans.deviceToken != "" {
				l.mu.Lock()
				l.devices[u] = ans.deviceToken
				l.mu.Unlock()
			}
			break
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if ok {
		l.latencies = append(l.latencies, latency)
	}
	if fresh {
		l.fresh++
		if ok {
			l.freshOK++
		}
		return
	}
	l.known++
	if ok {
		l.knownOK++
		l.knownLatencies = append(l.knownLatencies, latency)
	}
	if challenged {
		l.knownChallenged++
	}
}

// runOne runs one scenario against one defence on a fresh server.
func runOne(ctx context.Context, o Options, pop *Population, rep *Report, dir, usersFile, scenario, defence string) (Result, error) {
	res := Result{Scenario: scenario, Defence: defence}
	addrs, err := attackerAddresses(scenario, o.BotnetSize, o.Seed)
	if err != nil {
		return res, err
	}
	base := o.Target
	var srv *server
	if o.Target == "" {
		if srv, err = startServer(ctx, o.ServerBin, dir, usersFile, o.Argon, o.InsecureWeakHash, defence, o.ServerArgs); err != nil {
			return res, err
		}
		defer srv.stop()
		base = srv.base
	}
	c := newClient(base, o.Profile)
	c.clientID = o.ClientID
	defer c.http.CloseIdleConnections()
	if rep.Calibration.NsPerRequest == 0 {
		rep.Calibration.NsPerRequest = calibrateRequests(ctx, c, 300)
	}

	sv, err := newSolver(o.SolverBin, o.SolveWorkers)
	if err != nil {
		return res, err
	}
	defer sv.close()
	solveSem := make(chan struct{}, o.SolveWorkers)
	l := &legit{c: c, pop: pop, useDevices: defence != DefenceUsernameLimit, solver: sv, solveSem: solveSem, devices: make([]string, o.LegitUsers)}
	l.warmUp(ctx, o.LegitUsers)
	if o.QuietLogins > 0 {
		// The baseline of the latency goal, measured in the same run:
		// the same logins with no attack.
		quiet := &legit{c: c, pop: pop, useDevices: l.useDevices, solver: sv, solveSem: solveSem, devices: l.devices}
		quiet.paced(ctx, o, o.QuietLogins, func(float64) bool { return true }, nil)
		sorted := slices.Sorted(slices.Values(quiet.knownLatencies))
		res.QuietKnownDeviceP50Ms, res.QuietKnownDeviceP99Ms = percentile(sorted, 0.50), percentile(sorted, 0.99)
	}
	warmRequests := l.requests.Load()

	var cpu0 time.Duration
	if srv != nil {
		if cpu0, err = srv.cpu(); err != nil {
			return res, err
		}
	}
	start := time.Now()
	a := &attack{cal: rep.Calibration, budget: o.AttackerBudget, duration: o.Duration, total: len(pop.Combo),
		start: start, compromised: map[string]bool{}}
	attackCtx, cancelAttack := context.WithDeadline(ctx, start.Add(o.Duration))
	defer cancelAttack()
	legitCtx, cancelLegit := context.WithDeadline(ctx, start.Add(o.Duration+2*time.Minute))
	defer cancelLegit()

	workers, pause := o.AttackWorkers, time.Duration(0)
	if scenario == ScenarioLowAndSlow {
		workers, pause = 1, o.SlowInterval
	}
	var attackWG sync.WaitGroup
	attackDone := make(chan struct{})
	for range workers {
		attackWG.Go(func() { a.worker(attackCtx, c, pop, addrs, sv, solveSem, pause) })
	}
	go func() { attackWG.Wait(); close(attackDone) }()
	statusDone := make(chan struct{})
	go func() { a.reportStatus(o, scenario, defence, attackDone); close(statusDone) }()
	defer func() { <-statusDone }()

	// Legitimate login j starts when the attack is j/LegitLogins of the
	// way through, so the logins spread over the whole attack.
	l.paced(legitCtx, o, o.LegitLogins, func(share float64) bool {
		return a.progress(time.Now()) >= share
	}, attackDone)
	<-attackDone

	if srv != nil {
		cpu1, err := srv.cpu()
		if err != nil {
			return res, err
		}
		attempts := a.requests.Load() + l.requests.Load() - warmRequests
		if attempts > 0 {
			res.ServerCPUPerAttemptUS = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(attempts)
		}
	}
	res.Compromised = len(a.compromised)
	res.ValidPairsTried = int(a.validTried.Load())
	res.AttackerRequests = a.requests.Load()
	res.AttackerChallengesSolved = a.solved.Load()
	res.AttackerCostSeconds = a.spent().Seconds()
	if res.Compromised > 0 {
		v := res.AttackerCostSeconds / float64(res.Compromised)
		res.CostPerCompromiseSeconds = &v
	}
	if res.AttackerRequests > 0 {
		res.RejectedBeforeHashRatio = float64(a.rejected.Load()) / float64(res.AttackerRequests)
	}
	res.LegitLogins = l.n
	res.LegitKnownDeviceSuccess = ratio(l.knownOK, l.known)
	res.LegitKnownDeviceChallenged = l.knownChallenged
	res.LegitNewDeviceSuccess = ratio(l.freshOK, l.fresh)
	res.Latencies = l.latencies
	sorted := slices.Sorted(slices.Values(l.latencies))
	res.LegitP50Ms, res.LegitP99Ms = percentile(sorted, 0.50), percentile(sorted, 0.99)
	sorted = slices.Sorted(slices.Values(l.knownLatencies))
	res.LegitKnownDeviceP50Ms, res.LegitKnownDeviceP99Ms = percentile(sorted, 0.50), percentile(sorted, 0.99)
	res.Timeline = a.timeline
	return res, nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

func cutTrim(s, sep string) (string, string, bool) {
	k, v, ok := strings.Cut(s, sep)
	return strings.TrimSpace(k), strings.TrimSpace(v), ok
}

func numCPU() int { return runtime.NumCPU() }
