package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/credshield/credshield/internal/adminapi"
	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/redisstore"
)

// newGuardCmd is `credshield guard`: what the login guard of a running
// serve blocks now, and lifting it, through its admin listener.
func newGuardCmd(e *env) *cobra.Command {
	adm := config.DefaultAdmin()
	var adminURL string
	cmd := &cobra.Command{
		Use:   "guard",
		Short: "See and lift the lockouts of a running server: status, unlock",
		Long: `See what the login guard of a running 'credshield serve' blocks now, and lift
a lockout without a restart, through the server's admin listener. The
listener's address and token are read from --data-dir (admin.addr and
admin.token, written by serve), or from --admin-url and --admin-token-file;
` + config.AdminTokenEnv + ` takes precedence over the token file.`,
	}
	cmd.PersistentFlags().StringVar(&adminURL, "admin-url", "", "base URL of the admin listener (default: the address serve wrote to admin.addr in --data-dir)")
	adm.RegisterTokenFlag(cmd.PersistentFlags())
	client := func() (adminapi.Client, error) { return adminClient(e, adm, adminURL) }

	var limit int
	status := &cobra.Command{
		Use:   "status",
		Short: "List what is blocked now (by address, network and username), longest first",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context(), limit)
			if err != nil {
				return err
			}
			if len(st.Blocked) == 0 {
				fmt.Fprintln(e.stdout, "nothing is blocked")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BUDGET\tADDRESS\tUSER\tRETRY AFTER")
			for _, b := range st.Blocked {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Budget, dash(b.Address), dash(b.User), time.Duration(b.RetryAfterSeconds)*time.Second)
			}
			return tw.Flush()
		},
	}
	status.Flags().IntVar(&limit, "limit", 50, "list at most this many (1 to 1000)")

	var req adminapi.UnlockRequest
	def := config.DefaultDefence()
	unlock := &cobra.Command{
		Use:   "unlock --ip ADDRESS | --network CIDR | --user NAME",
		Short: "Give an address, a network or an account its full login budget back",
		Long: `Give an address (every budget keyed on it, with any username), a network
(its budget and every address inside it) or an account (from any address)
its full login budget back, at once and on every replica sharing the guard
store. Unlocking an address does not lift its network's budget: unlock the
network too when 'guard status' lists it.

With --guard-store (the Redis the servers share, with their --redis-prefix
and budget flags, or the same CREDSHIELD_* environment) the budgets are
cleared in Redis directly, with no server running. Budgets that name both
an account and an address are known only to the server that refused them:
lift those through a server's admin listener.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sel, err := adminapi.ParseSelector(req)
			if err != nil {
				return usageError{err}
			}
			var res adminapi.UnlockResult
			if def.GuardStore != "" {
				if err := def.Validate("127.0.0.1:0"); err != nil {
					return usageError{err}
				}
				if res.Unlocked, err = unlockInRedis(cmd.Context(), def, sel); err != nil {
					return err
				}
			} else {
				c, err := client()
				if err != nil {
					return err
				}
				if res, err = c.Unlock(cmd.Context(), req); err != nil {
					return err
				}
			}
			fmt.Fprintf(e.stdout, "unlocked %d budgets\n", len(res.Unlocked))
			for _, k := range res.Unlocked {
				fmt.Fprintln(e.stdout, "  "+k)
			}
			return nil
		},
	}
	unlock.Flags().StringVar(&req.IP, "ip", "", "an address")
	unlock.Flags().StringVar(&req.Network, "network", "", "a network (CIDR)")
	unlock.Flags().StringVar(&req.User, "user", "", "a username")
	def.RegisterFlags(unlock.Flags())
	cmd.AddCommand(status, unlock)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// adminClient finds the admin listener and its token the way serve wrote
// them: never creating either.
func adminClient(e *env, adm config.Admin, adminURL string) (adminapi.Client, error) {
	if adminURL == "" {
		b, err := os.ReadFile(config.AddrPath(e.dataDir))
		if errors.Is(err, fs.ErrNotExist) {
			return adminapi.Client{}, fmt.Errorf("no admin listener recorded in %s: is credshield serve running with this --data-dir? (or pass --admin-url)", e.dataDir)
		}
		if err != nil {
			return adminapi.Client{}, fmt.Errorf("admin listener address: %w", err)
		}
		adminURL = "http://" + strings.TrimSpace(string(b))
	}
	env, envSet := e.lookupEnv(config.AdminTokenEnv)
	token, err := adminapi.LoadToken(adm.TokenPath(e.dataDir), env, envSet, false)
	if err != nil {
		return adminapi.Client{}, err
	}
	return adminapi.Client{Base: adminURL, Token: token}, nil
}

// unknownSubcommand is the RunE of a command group: called with no
// subcommand it shows the group's help; with an argument that names none
// it is a usage error (exit 2), not help and success.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
}

// refuseUnknownSubcommands makes every command group under c (a command
// with subcommands and no action of its own) answer an unknown
// subcommand with a usage error: cobra shows help and succeeds, which a
// script takes for done.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = cobra.ArbitraryArgs
		c.RunE = unknownSubcommand
	}
}

// unlockInRedis lifts the budgets of sel that can be named without having
// seen them, straight in the Redis the servers share: their keys are
// digests of the budget's name and Limit, so def must carry the servers'
// budgets and prefix.
func unlockInRedis(ctx context.Context, def config.Defence, sel guard.Selector) ([]string, error) {
	rdb, err := redisClient(def)
	if err != nil {
		return nil, err
	}
	defer rdb.Close()
	l, err := redisstore.NewLimiter(rdb, redisstore.Config{Prefix: def.RedisPrefix})
	if err != nil {
		return nil, err
	}
	g, err := guard.New(guard.Config{Store: l, Policy: def.Guard, Admin: l})
	if err != nil {
		return nil, usageError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return g.Unlock(ctx, time.Now(), sel)
}
