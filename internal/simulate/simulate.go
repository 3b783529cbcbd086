// Package simulate measures credshield's defences against credential
// stuffing as numbers a user can reproduce: it starts `credshield serve` as
// a child process on loopback, imports a population with real argon2id
// hashes, replays a combo list from simulated attackers (one address, a
// /24, a botnet, a slow botnet) that solve every challenge with the real
// solver, and logs legitimate users in during the attack. Defences are
// compared at equal attacker cost, counted in CPU time calibrated in the
// same run, so "fewer compromises" is never an artefact of the clock.
package simulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/credshield/credshield/internal/loginapi"
	"github.com/credshield/credshield/internal/password"
)

// ErrOptions marks a Run that did not start because its Options are
// unusable; check it with errors.Is.
var ErrOptions = errors.New("simulate: invalid options")

// Scenarios, in the order "all" runs them.
var Scenarios = []string{ScenarioSingleIP, ScenarioSubnet, ScenarioBotnet, ScenarioLowAndSlow}

// Scenario names.
const (
	ScenarioSingleIP   = "single-ip"
	ScenarioSubnet     = "subnet"
	ScenarioBotnet     = "botnet"
	ScenarioLowAndSlow = "low-and-slow"
)

// Defences, in the order "all" runs them.
var Defences = []string{DefenceUsernameLimit, DefenceDefault}

// Options configure a simulation. Start from DefaultOptions.
type Options struct {
	Scenarios []string
	Defences  []string
	// Users is the number of accounts; Pairs the combo list's length.
	Users, Pairs int
	// AttackerBudget is the CPU time the attacker may spend per scenario
	// and defence (requests and challenge evaluations, calibrated).
	AttackerBudget time.Duration
	// Duration bounds each scenario and defence in wall-clock time.
	Duration time.Duration
	// LegitUsers log in LegitLogins times in all during each attack,
	// at most LegitRate logins a second, so that a short attack does not
	// turn them into a flood of their own.
	LegitUsers, LegitLogins int
	// QuietLogins are legitimate logins made before the attack, the
	// same way: the no-attack baseline of the latency figures, measured in
	// the same run (0 skips it).
	QuietLogins int
	LegitRate   float64
	// Argon are the hash parameters of the population and of the server.
	Argon password.Params
	// InsecureWeakHash lets the servers simulate starts accept Argon
	// below OWASP's minimum (serve's --insecure-weak-hash), for cheap runs.
	InsecureWeakHash bool
	// ServerBin is the credshield binary to start; ServerArgs are extra
	// serve flags for every defence (they override the defence's own).
	ServerBin  string
	ServerArgs []string
	// SolverBin, if set, is the credshield binary whose `challenge solve
	// --stream` processes solve challenges at the lowest CPU priority, so
	// the attacker's solving takes only the cycles the server leaves (as
	// if it ran on other machines). Empty solves in this process.
	SolverBin string
	// Target, if set, is an already running server on loopback holding
	// the population (see WriteJSONL); no server is started.
	Target string
	// Profile, with Target, is the login API the target speaks (a
	// service such as Kratos or Authelia, alone or behind credshield
	// protect); nil is credshield serve's password grant.
	Profile *loginapi.Profile
	// ClientID is the OAuth2 client a Keycloak direct grant names.
	ClientID string
	// IdentifierDomain, if set, makes every identifier an address at
	// it (user000001@example.com), for services whose identities are
	// email addresses (Kratos with an email identity schema).
	IdentifierDomain string
	// AttackWorkers is the attacker's parallel connections: enough to
	// keep the server's hashers busy while failures wait out the
	// server's failure floor. SolveWorkers is the number of cores that
	// solve challenges, the attacker's and the simulated browsers' alike.
	AttackWorkers, SolveWorkers int
	// SlowInterval is the pause between low-and-slow attempts.
	SlowInterval time.Duration
	// BotnetSize is the number of addresses of the botnet scenarios.
	BotnetSize int
	// Seed draws the population and the combo list.
	Seed uint64
	// Progress, if not nil, receives progress lines.
	Progress io.Writer
	// Status, if not nil, is called about every StatusEvery while an
	// attack runs, to show how far it has come (the command draws it on a
	// terminal's status line). It must not block.
	Status func(Status)
	// WorkDir holds the data dirs; a temporary directory if empty.
	WorkDir string
}

// StatusEvery is how often Options.Status is called during an attack.
const StatusEvery = 250 * time.Millisecond

// Status is how far one attack (one scenario against one defence) has
// come.
type Status struct {
	Scenario, Defence string
	// Attempts is the pairs of the combo list tried so far, of Pairs.
	Attempts, Pairs int
	// Compromised is the accounts the attacker has logged in to so far.
	Compromised int
	// Spent is the attacker's cost so far, of Budget (calibrated CPU).
	Spent, Budget time.Duration
	// Elapsed is the wall time since the attack began; ETA estimates
	// the time left until the first bound (list, budget, --duration) ends
	// it, 0 until there is something to estimate from.
	Elapsed, ETA time.Duration
}

// DefaultOptions are the default sizes: 2,000 users, 50,000 pairs, a
// 60-second attacker, 1,000 logins by 200 legitimate users.
func DefaultOptions() Options {
	return Options{
		Scenarios: Scenarios, Defences: Defences,
		Users: 2000, Pairs: 50000,
		AttackerBudget: 60 * time.Second, Duration: 10 * time.Minute,
		LegitUsers: 200, LegitLogins: 1000, LegitRate: 20, QuietLogins: 200,
		Argon:         password.DefaultParams(),
		AttackWorkers: 32, SolveWorkers: 1,
		SlowInterval: 500 * time.Millisecond,
		BotnetSize:   10000,
		Seed:         1,
	}
}

// Result is one scenario against one defence, with the JSON names of the
// report.
type Result struct {
	Scenario                   string   `json:"scenario"`
	Defence                    string   `json:"defence"`
	Compromised                int      `json:"compromised"`
	ValidPairsTried            int      `json:"valid_pairs_tried"`
	AttackerRequests           int64    `json:"attacker_requests"`
	AttackerChallengesSolved   int64    `json:"attacker_challenges_solved"`
	AttackerCostSeconds        float64  `json:"attacker_cost_seconds"`
	CostPerCompromiseSeconds   *float64 `json:"cost_per_compromise_seconds"`
	RejectedBeforeHashRatio    float64  `json:"rejected_before_hash_ratio"`
	ServerCPUPerAttemptUS      float64  `json:"server_cpu_per_attempt_us"`
	LegitLogins                int      `json:"legit_logins"`
	LegitKnownDeviceSuccess    float64  `json:"legit_known_device_success"`
	LegitKnownDeviceChallenged int      `json:"legit_known_device_challenged"`
	LegitNewDeviceSuccess      float64  `json:"legit_new_device_success"`
	LegitP50Ms                 float64  `json:"legit_p50_ms"`
	LegitP99Ms                 float64  `json:"legit_p99_ms"`
	// The known-device users' own latencies: the goal of hash time +
	// 20 ms is theirs.
	LegitKnownDeviceP50Ms float64 `json:"legit_known_device_p50_ms"`
	LegitKnownDeviceP99Ms float64 `json:"legit_known_device_p99_ms"`
	// The same users' latencies with no attack, just before it: what
	// this machine gives them anyway.
	QuietKnownDeviceP50Ms float64 `json:"quiet_known_device_p50_ms"`
	QuietKnownDeviceP99Ms float64 `json:"quiet_known_device_p99_ms"`

	// Timeline and Latencies feed the HTML charts.
	Timeline  []Second  `json:"-"`
	Latencies []float64 `json:"-"` // ms, accepted legitimate requests, in order
}

// Second counts the attacker's answers by kind in one second of a run.
type Second [numKinds]int

// Report is a whole simulation.
type Report struct {
	Results []Result `json:"results"`
	// Machine, HashMs and Calibration say what the numbers were
	// measured on. HashMs and HashP99Ms are nil (JSON null) when no hash
	// was measured: with --target the target hashed its own population.
	Machine     string      `json:"machine"`
	Date        string      `json:"date"`
	HashMs      *float64    `json:"hash_ms"`
	HashP99Ms   *float64    `json:"hash_p99_ms"`
	Calibration Calibration `json:"calibration"`
	// Profile is the login API spoken (--profile), ProfileVersion the
	// service version it was written against, and TargetVersion what
	// the target says it runs, or why it is not known.
	Profile        string `json:"profile,omitempty"`
	ProfileVersion string `json:"profile_version,omitempty"`
	TargetVersion  string `json:"target_version,omitempty"`
}

// Run simulates every scenario in o against every defence and reports.
// It returns what it measured so far together with an error when ctx ends
// or a server fails.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	rep := &Report{Machine: machine(), Date: time.Now().UTC().Format(time.RFC3339)}
	pop, err := NewPopulation(o.Seed, o.Users, o.Pairs)
	if err != nil {
		return nil, err
	}
	pop = pop.WithDomain(o.IdentifierDomain)
	if o.Profile != nil {
		rep.Profile, rep.ProfileVersion = o.Profile.Name, o.Profile.Version
		rep.TargetVersion = targetVersion(ctx, o.Profile, o.Target)
	}
	dir := o.WorkDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "credshield-simulate-"); err != nil {
			return nil, fmt.Errorf("work dir: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	usersFile := filepath.Join(dir, "users.jsonl")
	if o.Target == "" {
		hashed, err := pop.Hash(ctx, o.Argon, o.Progress)
		if err != nil {
			return nil, err
		}
		mean, p99 := ms(hashed.MeanHash), ms(hashed.P99Hash)
		rep.HashMs, rep.HashP99Ms = &mean, &p99
		if err := pop.WriteJSONL(usersFile, hashed); err != nil {
			return nil, err
		}
	}
	if rep.Calibration.NsPerEvaluation, err = calibrateEvaluations(ctx, 64); err != nil {
		return nil, err
	}
	defences := o.Defences
	if o.Target != "" {
		defences = []string{DefenceTarget}
	}
	for _, sc := range o.Scenarios {
		for _, d := range defences {
			o.progressf("%s vs %s ...", sc, d)
			r, err := runOne(ctx, o, pop, rep, dir, usersFile, sc, d)
			if err != nil {
				return rep, fmt.Errorf("%s vs %s: %w", sc, d, err)
			}
			o.progressf("%s vs %s: %d compromised, %d requests, %.1f CPU-s", sc, d, r.Compromised, r.AttackerRequests, r.AttackerCostSeconds)
			rep.Results = append(rep.Results, r)
		}
	}
	return rep, nil
}

func (o Options) validate() error {
	var errs []error
	for _, s := range o.Scenarios {
		if _, err := attackerAddresses(s, 1, 0); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range o.Defences {
		if _, err := defenceArgs(d); err != nil {
			errs = append(errs, err)
		}
	}
	if len(o.Scenarios) == 0 || len(o.Defences) == 0 {
		errs = append(errs, errors.New("no scenario or no defence to run"))
	}
	if o.Users < 1 || o.Pairs < 1 || o.LegitUsers < 1 || o.LegitLogins < 0 || o.QuietLogins < 0 || o.LegitUsers > o.Users || o.LegitRate <= 0 {
		errs = append(errs, fmt.Errorf("sizes: users %d, pairs %d, legitimate users %d (at most users), logins %d at %v/s: want positive", o.Users, o.Pairs, o.LegitUsers, o.LegitLogins, o.LegitRate))
	}
	if o.AttackerBudget <= 0 || o.Duration <= 0 {
		errs = append(errs, errors.New("attacker budget and duration must be positive"))
	}
	if o.AttackWorkers < 1 || o.SolveWorkers < 1 || o.BotnetSize < 1 || o.SlowInterval < 0 {
		errs = append(errs, errors.New("attack workers, solve workers and botnet size must be positive"))
	}
	if err := o.Argon.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Target != "" {
		if _, err := checkLoopbackURL(o.Target); err != nil {
			errs = append(errs, fmt.Errorf("--target: %w", err))
		}
	} else if o.ServerBin == "" {
		errs = append(errs, errors.New("no server binary to start"))
	}
	if o.Profile != nil && o.Target == "" {
		errs = append(errs, errors.New("a login profile needs --target: the servers simulate starts speak credshield's own API"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrOptions, errors.Join(errs...))
	}
	return nil
}

func (o Options) progressf(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// machine describes the CPU the numbers were measured on.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range splitLines(string(b)) {
			if k, v, ok := cutTrim(line, ":"); ok && k == "model name" {
				model = v
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs", model, numCPU())
}

// targetVersion asks the target for its version where its service tells
// it, and otherwise says why it is not known.
func targetVersion(ctx context.Context, p *loginapi.Profile, base string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := p.ServiceVersion(ctx, &http.Client{Timeout: 5 * time.Second}, base)
	switch {
	case errors.Is(err, loginapi.ErrNoVersion):
		return "not known: " + p.Name + " publishes no version"
	case err != nil:
		return "not known: " + err.Error()
	}
	return v
}
