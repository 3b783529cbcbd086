package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/credshield/credshield/internal/breach"
	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/password"
	"github.com/credshield/credshield/internal/store"
)

// screeningStore is what the commands use of password screening
// (migration 00007).
type screeningStore interface {
	PasswordScreening(ctx context.Context, id string) (store.Screening, error)
	SetPasswordScreening(ctx context.Context, id string, sc store.Screening, now time.Time) error
	BreachFilter(ctx context.Context) (store.BreachFilter, error)
	SetBreachFilter(ctx context.Context, f store.BreachFilter) error
}

// breachFilterFile is the breached-password filter's name in the data
// directory: one file per replica, imported on each (or copied).
const breachFilterFile = "breached.filter"

func (e *env) breachFilterPath() string { return filepath.Join(e.dataDir, breachFilterFile) }

func newPasswordsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "passwords",
		Short: "Screen new passwords against breached and common ones",
	}
	var minCount uint64
	var shards int
	imp := &cobra.Command{
		Use:   "import FILE...",
		Short: "Build the breached-password filter from Have I Been Pwned SHA-1 files",
		Long: `Build the breached-password filter from "Pwned Passwords" SHA-1 files
(HASH:COUNT lines, sorted or not, plain or gzip) into the data directory,
replacing the one there. Passwords in it are refused wherever a password is
set (user add, user reset, password changes) and flagged when an imported
account logs in with one. Screening is offline: nothing is sent anywhere.

The build reads the files once, spilling 8 bytes per kept hash into a
temporary directory beside the filter (about 8 GB for the full corpus), then
builds the filter shard by shard, so memory stays near that of one shard
(a few hundred MB for the full corpus). The filter takes about 18 bits per
hash (about 2 GiB for a billion) and wrongly refuses one good password in
65,536. Run it on every replica, or copy the file: each replica reads its
own data directory, and the database records which filter was imported last
so a replica whose copy differs says so at start.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("name at least one file")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return passwordsImport(cmd.Context(), e, args, breach.BuildOptions{MinCount: minCount, Shards: shards})
		},
	}
	imp.Flags().Uint64Var(&minCount, "min-count", 1, "keep only hashes seen at least this many times in breaches (a smaller filter that refuses fewer passwords)")
	imp.Flags().IntVar(&shards, "shards", breach.DefaultShards, "shards, a power of two up to 4096; more shards, less memory while building")
	cmd.AddCommand(imp)
	return cmd
}

func passwordsImport(ctx context.Context, e *env, files []string, opt breach.BuildOptions) error {
	if err := os.MkdirAll(e.dataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	opt.Progress = func(p breach.Progress) { printProgress(e.stderr, p, time.Since(start)) }
	out := e.breachFilterPath()
	stats, err := breach.Build(ctx, out, files, opt)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stderr)
	f, err := breach.Open(out)
	if err != nil {
		return err
	}
	defer f.Close()
	measured, err := breach.MeasureFalsePositives(f, 100_000)
	if err != nil {
		return err
	}
	rec := store.BreachFilter{Digest: f.Digest(), Entries: f.Entries(), MinCount: opt.MinCount, ImportedAt: time.Now()}
	if err := st.SetBreachFilter(ctx, rec); err != nil {
		return fmt.Errorf("record the filter in the database: %w", err)
	}
	fmt.Fprintf(e.stdout, "read %d lines in %s; kept %d hashes seen at least %d times\n",
		stats.Lines, time.Since(start).Round(time.Second), stats.Kept, max(opt.MinCount, 1))
	fmt.Fprintf(e.stdout, "filter %s: %d entries, %s (%.1f bits per entry)\n",
		out, stats.Entries, humanBytes(stats.Size), float64(stats.Size*8)/float64(max(stats.Entries, 1)))
	fmt.Fprintf(e.stdout, "false-positive rate: 1 in %.0f good passwords refused (measured %.4f%% over 100,000 random passwords)\n",
		1/stats.FalsePositiveRate, 100*measured)
	fmt.Fprintf(e.stdout, "digest %s\n", f.Digest())
	return nil
}

func printProgress(w io.Writer, p breach.Progress, elapsed time.Duration) {
	switch p.Phase {
	case "read":
		pct := 100.0
		if p.BytesTotal > 0 {
			pct = 100 * float64(p.BytesRead) / float64(p.BytesTotal)
		}
		fmt.Fprintf(w, "\rreading: %5.1f%% of %s, %d hashes kept, %s", pct, humanBytes(p.BytesTotal), p.Kept, elapsed.Round(time.Second))
	case "build":
		fmt.Fprintf(w, "\rbuilding: shard %d of %d, %s          ", p.Shard, p.Shards, elapsed.Round(time.Second))
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// passwordScreener returns the screener for new passwords: the embedded
// common list and, when the data directory holds one, the breach filter.
// warn receives a line when the filter is missing or differs from the one
// the database says was imported last. The caller closes the filter.
func (e *env) passwordScreener(ctx context.Context, st screeningStore, warn func(string)) (*breach.Screener, error) {
	common, err := breach.NewCommon()
	if err != nil {
		return nil, err
	}
	s := &breach.Screener{Common: common}
	rec, recErr := st.BreachFilter(ctx)
	if recErr != nil && !errors.Is(recErr, store.ErrNotFound) {
		return nil, recErr
	}
	f, err := breach.Open(e.breachFilterPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
		if recErr == nil {
			warn(fmt.Sprintf("no breached-password filter in %s, though one was imported (digest %s): screening against common passwords only; run `credshield passwords import` here or copy the file", e.dataDir, rec.Digest))
		}
		return s, nil
	case err != nil:
		return nil, err
	}
	if recErr == nil && rec.Digest != f.Digest() {
		warn(fmt.Sprintf("the breached-password filter in %s (digest %s) differs from the one imported last (digest %s): replicas screen differently until it is imported or copied here", e.dataDir, f.Digest(), rec.Digest))
	}
	s.Filter = f
	return s, nil
}

// passwordPolicy is the policy for new passwords: cfg's minimum length
// (checked by cfg.Validate) and the screener.
func passwordPolicy(cfg config.Passwords, s *breach.Screener) password.Policy {
	return password.Policy{MinLen: cfg.MinLength, Screen: s}
}

// closeScreener releases the breach filter's mapping, if any.
func closeScreener(s *breach.Screener) {
	if s != nil && s.Filter != nil {
		s.Filter.Close()
	}
}
