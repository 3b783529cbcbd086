package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/loginapi"
	"github.com/credshield/credshield/internal/simulate"
)

func newSimulateCmd(e *env) *cobra.Command {
	o := simulate.DefaultOptions()
	pw := config.DefaultPasswords()
	var (
		scenario, defence, format, out, htmlOut, popOut string
		profile, popFormat, realm                       string
		budget                                          float64
	)
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Measure the defences against credential stuffing, side by side with a plain per-username limit",
		Long: `Start credshield serve on loopback with a fresh data dir and a population of
--users accounts (real argon2id hashes), replay a combo list of --pairs pairs
(1% valid, 30% known names with a wrong password, 69% unknown names) from a
simulated attacker that solves every challenge with the real solver, and log
legitimate users in during the attack. Each defence faces the same list until
the attacker has spent --attacker-budget CPU-seconds (calibrated in the same
run) or --duration passed.

Defences: username-limit (only a per-username limit of 5 failures per 300 s,
what many apps do on their own) and default (the full guard). Scenarios: single-ip, subnet (/24), botnet (--botnet-size
addresses over many /16s), low-and-slow. --target URL attacks an already
running server on loopback instead (import --population-out FILE into it
first, with the same --seed, --users and --pairs). With --profile NAME the
attacker and the users speak that service's login API (kratos, authelia,
fastapi...), to measure the service alone or behind credshield protect;
--population-format writes the population for the service's own import:
kratos-identities (kratos import identities), authelia-yaml
(users_database.yml) or userpass (name:password lines). docs/simulate.md
explains every number.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Scenarios, err = pick(scenario, simulate.Scenarios, "--scenario"); err != nil {
				return err
			}
			if o.Defences, err = pick(defence, simulate.Defences, "--defence"); err != nil {
				return err
			}
			if format != "text" && format != "json" {
				return usageError{fmt.Errorf("--format %q: want text or json", format)}
			}
			if budget <= 0 || budget > 24*3600 {
				return usageError{fmt.Errorf("--attacker-budget %v: want between 0 and 86400 CPU-seconds", budget)}
			}
			o.AttackerBudget = time.Duration(budget * float64(time.Second))
			if err := pw.Validate(); err != nil {
				return usageError{err}
			}
			o.Argon, o.InsecureWeakHash = pw.Argon, pw.InsecureWeakHash
			if !slices.Contains(simulate.PopulationFormats, popFormat) {
				return usageError{fmt.Errorf("--population-format %q: want one of %v", popFormat, simulate.PopulationFormats)}
			}
			if profile != "" {
				var po loginapi.Options
				if realm != "" {
					po.Realms = []string{realm}
				}
				if o.Profile, err = loginapi.New(profile, po); err != nil {
					return usageError{err}
				}
				if profile == "keycloak" && o.ClientID == "" && popOut == "" {
					return usageError{errors.New("--profile keycloak needs --client-id: the client its direct grant names")}
				}
				if o.Target == "" && popOut == "" {
					return usageError{errors.New("--profile needs --target: simulate attacks a running service that speaks it")}
				}
			}
			if profile == "kratos" || profile == "gotrue" || popFormat == simulate.FormatKratosIdentities {
				// Kratos identities are email addresses here, as in
				// its default identity schema; GoTrue's always are.
				o.IdentifierDomain = "example.com"
			}
			if o.Target != "" && cmd.Flags().Changed("defence") {
				return usageError{errors.New("--defence applies to servers simulate starts; with --target the defence is the target's")}
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the credshield binary: %w", err)
			}
			if o.ServerBin == "" && o.Target == "" {
				o.ServerBin = self
			}
			o.SolverBin = self
			// On a terminal: a status line per attack, redrawn in place;
			// off one (a CI log, a file) nothing.
			progress := newProgressLine(e.stderr)
			if progress != nil {
				o.Progress = progress
				o.Status = func(s simulate.Status) { progress.show(time.Now(), simulateStatus(s)) }
			}
			if popOut != "" {
				defer progress.clear()
				return writePopulation(cmd.Context(), e, o, popOut, popFormat)
			}
			rep, runErr := simulate.Run(cmd.Context(), o)
			progress.clear() // before the report, which may go to the same terminal
			if errors.Is(runErr, simulate.ErrOptions) {
				return usageError{runErr}
			}
			if rep == nil {
				return runErr
			}
			if err := writeReport(e.stdout, out, func(w io.Writer) error {
				if format == "json" {
					return rep.WriteJSON(w)
				}
				return rep.WriteText(w)
			}); err != nil {
				return err
			}
			if htmlOut != "" {
				if err := writeReport(e.stdout, htmlOut, rep.WriteHTML); err != nil {
					return err
				}
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&scenario, "scenario", "all", "single-ip, subnet, botnet, low-and-slow or all")
	f.StringVar(&defence, "defence", "all", "username-limit, default or all")
	f.IntVar(&o.Users, "users", o.Users, "accounts in the population")
	f.IntVar(&o.Pairs, "pairs", o.Pairs, "pairs in the combo list, each tried once")
	f.Float64Var(&budget, "attacker-budget", o.AttackerBudget.Seconds(), "attacker CPU-seconds per scenario and defence (requests and challenge evaluations)")
	f.DurationVar(&o.Duration, "duration", o.Duration, "wall-clock bound of each scenario and defence")
	f.IntVar(&o.LegitUsers, "legit-users", o.LegitUsers, "legitimate users logging in during the attack")
	f.IntVar(&o.LegitLogins, "legit-logins", o.LegitLogins, "legitimate logins during each attack")
	f.Float64Var(&o.LegitRate, "legit-rate", o.LegitRate, "most legitimate logins started per second")
	f.IntVar(&o.QuietLogins, "quiet-logins", o.QuietLogins, "legitimate logins before the attack: the no-attack latency baseline (0 skips it)")
	f.IntVar(&o.BotnetSize, "botnet-size", o.BotnetSize, "addresses of the botnet and low-and-slow attackers")
	f.IntVar(&o.AttackWorkers, "attack-workers", o.AttackWorkers, "attacker connections in parallel")
	f.IntVar(&o.SolveWorkers, "solve-workers", o.SolveWorkers, "attacker cores solving challenges")
	f.DurationVar(&o.SlowInterval, "slow-interval", o.SlowInterval, "pause between low-and-slow attempts")
	f.Uint64Var(&o.Seed, "seed", o.Seed, "random seed that draws the population and the combo list (the same seed draws the same list)")
	f.StringVar(&o.ServerBin, "server-bin", "", "credshield binary to start (default: this one)")
	f.StringArrayVar(&o.ServerArgs, "server-arg", nil, "extra flag for every server started, repeatable (--server-arg=--challenge-difficulty=4)")
	f.StringVar(&o.Target, "target", "", "attack this running server instead (loopback only)")
	f.StringVar(&popOut, "population-out", "", "write the population to FILE for the target's import, and exit")
	f.StringVar(&popFormat, "population-format", simulate.FormatCredshield, "format of --population-out: credshield (credshield user import), kratos-identities, authelia-yaml or userpass")
	f.StringVar(&realm, "realm", "", "the Keycloak realm of --profile keycloak")
	f.StringVar(&o.ClientID, "client-id", "", "the OAuth2 client of --profile keycloak's direct grant")
	f.StringVar(&profile, "profile", "", "the login API of the --target: "+strings.Join(loginapi.Names(), ", ")+" (default: credshield serve's)")
	f.StringVar(&format, "format", "text", "text or json")
	f.StringVar(&out, "out", "", "write the report to FILE instead of stdout")
	f.StringVar(&htmlOut, "html", "", "also write a self-contained HTML page with charts to FILE")
	pw.RegisterFlags(f)
	return cmd
}

// simulateStatus is the status line of an attack in progress.
func simulateStatus(s simulate.Status) string {
	eta := "ETA …" // nothing to estimate from yet
	switch {
	case s.ETA >= time.Second:
		eta = "ETA " + s.ETA.Round(time.Second).String()
	case s.ETA > 0:
		eta = "ETA <1s"
	}
	return fmt.Sprintf("%s vs %s: %d/%d attempts, %d compromised, budget %.1f/%.1f CPU-s, %s",
		s.Scenario, s.Defence, s.Attempts, s.Pairs, s.Compromised, s.Spent.Seconds(), s.Budget.Seconds(), eta)
}

// pick expands "all" or checks one name against the known ones.
func pick(v string, known []string, flag string) ([]string, error) {
	if v == "all" {
		return known, nil
	}
	if !slices.Contains(known, v) {
		return nil, usageError{fmt.Errorf("%s %q: want one of %v or all", flag, v, known)}
	}
	return []string{v}, nil
}

// writeReport writes through write to path, or to stdout when path is
// empty.
func writeReport(stdout io.Writer, path string, write func(io.Writer) error) error {
	if path == "" {
		return write(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writePopulation hashes the population and writes it for an import into
// a --target server.
func writePopulation(ctx context.Context, e *env, o simulate.Options, path, format string) error {
	pop, err := simulate.NewPopulation(o.Seed, o.Users, o.Pairs)
	if err != nil {
		return usageError{err}
	}
	pop = pop.WithDomain(o.IdentifierDomain)
	var h simulate.HashedUsers
	if simulate.NeedsHashes(format) {
		if h, err = pop.Hash(ctx, o.Argon, o.Progress); err != nil {
			return err
		}
	}
	if err := pop.WritePopulation(path, format, h); err != nil {
		return err
	}
	how := map[string]string{
		simulate.FormatCredshield:       "credshield user import " + path,
		simulate.FormatKratosIdentities: "kratos import identities " + path,
		simulate.FormatAutheliaYAML:     "authentication_backend.file.path: " + path + " in Authelia's configuration",
		simulate.FormatUserPass:         "the service's own tools (the file holds plain passwords: delete it after)",
	}[format]
	fmt.Fprintf(e.stdout, "wrote %d users to %s: import them with %s\n", len(pop.Usernames), path, how)
	return nil
}
