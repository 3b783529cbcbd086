package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/token"
)

func newKeysCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Inspect and rotate signing keys",
	}
	alg := config.Default().SigningAlg
	var kek config.KEK
	list := &cobra.Command{
		Use:   "list",
		Short: "List signing keys: kid (RFC 7638 thumbprint), algorithm, creation and activation time, status",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ks *token.KeySet
			err := withKeySource(cmd.Context(), e, kek, func(src token.KeySource) error {
				var err error
				ks, err = token.Load(cmd.Context(), src, alg)
				return err
			})
			if err != nil {
				return err
			}
			now := time.Now()
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KID\tALG\tCREATED\tSIGNS FROM\tSTATUS")
			active := ks.ActiveAt(now)
			for _, k := range ks.Keys() {
				status := "published"
				switch {
				case active != nil && k.ID == active.ID:
					status = "active"
				case k.Alg == alg && k.NotBefore.After(now):
					status = "staged"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Alg, k.Created.UTC().Format(time.RFC3339),
					k.NotBefore.UTC().Format(time.RFC3339), status)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&alg, "signing-alg", alg, "the algorithm serve signs with; its newest active key is the active one")
	kek.RegisterFlags(cmd.PersistentFlags())
	cmd.AddCommand(list, newKeysRotateCmd(e, &kek))
	return cmd
}

// withKeySource runs fn with where the keys live: the data directory's
// files (no KEK, SQLite), or the store --db names, sealed, when kek
// configures a KEK (required for PostgreSQL), open while fn runs.
func withKeySource(ctx context.Context, e *env, kek config.KEK, fn func(src token.KeySource) error) error {
	ring, err := loadKeyring(kek, e.lookupEnv, e.db)
	if err != nil {
		return err
	}
	if ring == nil {
		return fn(token.Dir(e.keysDir()))
	}
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	log, err := e.logger()
	if err != nil {
		return err
	}
	src, err := keySource(ctx, e.keysDir(), st, ring, log)
	if err != nil {
		return err
	}
	return fn(src)
}

// newKeysRotateCmd returns `keys rotate`; kek is bound to the flags of
// `keys`, its parent.
func newKeysRotateCmd(e *env, kek *config.KEK) *cobra.Command {
	cfg := config.Default()
	var now bool
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Stage a new signing key: published in the JWKS at once, signing after --key-publish-lead",
		Long: `Stage a new signing key in the data directory, or sealed in the store (--db)
when a key-encryption key is configured (CREDSHIELD_KEK or --kek-file; required
with PostgreSQL). Every running server publishes it in its JWKS within a
second (servers re-read their keys four times a second, and at once on SIGHUP)
and signs with it once --key-publish-lead has passed, so verifiers that cache the JWKS (package verify: 5 minutes) know it
before they see a token it signed. --now switches at once, for a suspected
key compromise. Old keys stay published until every token they signed has
expired (--access-token-ttl + --leeway after they stopped signing); key files
retired by then are deleted. The new key must be of the algorithm the
servers sign with (--signing-alg of serve): to change algorithm, restart
the servers with the new --signing-alg.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.KeyPublishLead < 0 {
				return usageError{fmt.Errorf("--key-publish-lead %s: must not be negative", cfg.KeyPublishLead)}
			}
			t := time.Now()
			lead := cfg.KeyPublishLead
			if now {
				lead = 0
			}
			var (
				k       *token.Key
				removed []string
			)
			err := withKeySource(cmd.Context(), e, *kek, func(src token.KeySource) error {
				if err := checkRotateAlg(cmd.Context(), src, cfg.SigningAlg, t); err != nil {
					return err
				}
				var err error
				k, removed, err = token.Rotate(cmd.Context(), src, cfg.SigningAlg, rand.Reader, t, t.Add(lead), retireAfter(cfg), nil)
				return err
			})
			if err != nil {
				return err
			}
			if log, err := e.logger(); err == nil {
				log.Info("key.rotate", slog.String("kid", k.ID), slog.String("alg", k.Alg),
					slog.Time("signs_from", k.NotBefore), slog.Any("retired", removed))
			}
			fmt.Fprintf(e.stdout, "new %s key %s signs from %s\n", k.Alg, k.ID, k.NotBefore.Format(time.RFC3339))
			for _, id := range removed {
				fmt.Fprintf(e.stdout, "retired key %s deleted\n", id)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&now, "now", false, "sign with the new key at once (emergency: verifiers fetch it on the first unknown kid)")
	f.StringVar(&cfg.SigningAlg, "signing-alg", cfg.SigningAlg, "algorithm of the new key: EdDSA, ES256 or RS256")
	f.DurationVar(&cfg.AccessTTL, "access-token-ttl", cfg.AccessTTL, "lifetime of access tokens, as serve uses it (old keys stay published this long)")
	f.DurationVar(&cfg.Leeway, "leeway", cfg.Leeway, "clock-skew tolerance, as serve uses it")
	cfg.RegisterKeyFlags(f)
	return cmd
}

// retireAfter is how long a key stays published after it stopped signing:
// a token it signed last lives AccessTTL, and verifiers accept it Leeway
// longer; a minute more covers the reload interval.
func retireAfter(cfg config.Serve) time.Duration {
	return cfg.AccessTTL + cfg.Leeway + time.Minute
}

// keyReloadInterval is how often serve re-reads the keys (directory or
// store): often enough that an emergency rotation (keys rotate --now)
// stops the old key signing within a second on every replica. A reload is
// one directory read or one query and a few key decodes. SIGHUP reloads
// at once.
const keyReloadInterval = 250 * time.Millisecond

// keyWarnEvery is how often a failing reload is logged.
const keyWarnEvery = 10 * time.Second

// keyReloadTimeout bounds one reload (and rotation) against a slow store.
const keyReloadTimeout = 10 * time.Second

// maintainKeys runs serve's periodic key work at now: with a rotation
// interval, it stages a new key when the newest one (staged or active)
// started signing an interval ago; then it reloads src, so keys staged by
// `credshield keys rotate` or another replica are published, switch and
// retire without a restart. Whether a rotation is due is decided again
// inside src's locked update (a shared store's advisory lock), on the keys
// stored then, so replicas whose intervals expire together rotate once.
func maintainKeys(ctx context.Context, ks *token.KeySet, src token.KeySource, cfg config.Serve, now time.Time, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, keyReloadTimeout)
	defer cancel()
	if cfg.KeyRotationInterval > 0 {
		due := func(keys []*token.Key) bool {
			var newest time.Time
			for _, k := range keys {
				if k.Alg == cfg.SigningAlg && k.NotBefore.After(newest) {
					newest = k.NotBefore
				}
			}
			return !now.Before(newest.Add(cfg.KeyRotationInterval))
		}
		if due(ks.Keys()) { // cheap check first; the locked one decides
			k, removed, err := token.Rotate(ctx, src, cfg.SigningAlg, rand.Reader, now, now.Add(cfg.KeyPublishLead), retireAfter(cfg), due)
			if err != nil {
				return err
			}
			if k != nil {
				log.Info("key.rotate", slog.String("kid", k.ID), slog.String("alg", k.Alg),
					slog.Time("signs_from", k.NotBefore), slog.Any("retired", removed), slog.String("by", "key-rotation-interval"))
			}
		}
	}
	before := ks.ActiveAt(now.Add(-keyReloadInterval))
	if err := ks.Reload(ctx, now, retireAfter(cfg)); err != nil {
		return err
	}
	if after := ks.ActiveAt(now); before != nil && after != nil && before.ID != after.ID {
		log.Info("key.activate", slog.String("kid", after.ID), slog.String("previous", before.ID))
	}
	return nil
}

// checkRotateAlg refuses a new key of alg when the servers sign with
// another algorithm: a server signs only with keys of its own
// --signing-alg, so the new key would be published and never sign, while
// rotate said it signs. What the servers sign with is read from the keys:
// the algorithm of the key that became active last. A source without keys
// accepts any algorithm.
func checkRotateAlg(ctx context.Context, src token.KeySource, alg string, now time.Time) error {
	ks, err := token.Load(ctx, src, alg)
	if err != nil {
		return err
	}
	var signing *token.Key
	for _, k := range ks.Keys() {
		if !k.NotBefore.After(now) && (signing == nil || k.NotBefore.After(signing.NotBefore)) {
			signing = k
		}
	}
	if signing != nil && signing.Alg != alg {
		return usageError{fmt.Errorf("--signing-alg %s: the servers sign with %s (key %s), and a server signs only with keys of its own --signing-alg, so a new %s key would never sign; rotate with --signing-alg %s, or restart the servers with --signing-alg %s to change algorithm",
			alg, signing.Alg, signing.ID, alg, signing.Alg, alg)}
	}
	return nil
}
