package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/password"
	"github.com/credshield/credshield/internal/scope"
	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/userfile"
	"github.com/credshield/credshield/internal/username"
)

func newUserCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage accounts: add, list, disable, enable, reset, scopes, delete, import",
	}
	cfg := config.DefaultPasswords()
	cfg.RegisterFlags(cmd.PersistentFlags())
	cmd.AddCommand(
		&cobra.Command{
			Use:   "add NAME",
			Short: "Add an account; the password is read from a TTY prompt or stdin, never argv",
			Args:  exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return userSetPassword(cmd.Context(), e, cfg, args[0], true)
			},
		},
		&cobra.Command{
			Use:   "reset NAME",
			Short: "Set a new password (from a TTY prompt or stdin); ends the account's sessions and access tokens",
			Args:  exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return userSetPassword(cmd.Context(), e, cfg, args[0], false)
			},
		},
		&cobra.Command{
			Use:   "disable NAME",
			Short: "Disable an account: logins fail, its sessions end and its access tokens stop working at /users/me and /verify",
			Args:  exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return userSetDisabled(cmd.Context(), e, args[0], true)
			},
		},
		&cobra.Command{
			Use:   "enable NAME",
			Short: "Enable a disabled account; tokens issued before it was disabled stay dead",
			Args:  exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return userSetDisabled(cmd.Context(), e, args[0], false)
			},
		},
		newUserScopesCmd(e),
		newUserDeleteCmd(e),
		&cobra.Command{
			Use:   "list",
			Short: "List accounts",
			Args:  exactArgs(0),
			RunE: func(cmd *cobra.Command, _ []string) error {
				return userList(cmd.Context(), e)
			},
		},
		&cobra.Command{
			Use:   "import FILE",
			Short: "Import accounts with existing hashes from CSV or JSONL (username,hash)",
			Long: `Import accounts from CSV (username,hash; an optional header line) or JSONL
({"username": ..., "hash": ...} per line; chosen by a .jsonl/.ndjson name or
a first line starting with "{"). Hashes may be bcrypt ($2a$, $2b$, $2y$),
passlib's argon2 and bcrypt forms, or credshield's own argon2id PHC strings;
they are verified at login and rehashed to argon2id on the first success.
Every line is checked before anything is written: one bad line, or two names
that are equal after normalisation, and nothing is imported.`,
			Args: exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return userImport(cmd.Context(), e, args[0])
			},
		},
	)
	return cmd
}

// exactArgs is cobra.ExactArgs with a usage exit code.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func userSetPassword(ctx context.Context, e *env, cfg config.Passwords, rawName string, create bool) error {
	name, err := accountName(rawName)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	open := e.openExistingStore // reset: the account must exist already
	if create {
		open = e.openStore
	}
	st, err := open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	screen, err := e.passwordScreener(ctx, st, func(msg string) { fmt.Fprintln(e.stderr, "warning: "+msg) })
	if err != nil {
		return err
	}
	defer closeScreener(screen)
	policy := passwordPolicy(cfg, screen)
	pw, err := readPassword(e, name)
	if err != nil {
		return err
	}
	normalised, err := policy.Check(pw)
	if errors.Is(err, password.ErrPolicy) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	hash, err := password.Hash(rand.Reader, []byte(normalised), cfg.Argon)
	if err != nil {
		return err
	}
	class, err := password.Check(hash)
	if err != nil {
		return err
	}
	now := time.Now()
	if create {
		u, err := st.CreateUser(ctx, store.NewUser{Username: name, PasswordHash: hash, HashClass: class}, now)
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("user %q already exists", name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added user %q (sub %s)\n", u.Username, u.ID)
		return nil
	}
	// One transaction: the new hash, a raised account epoch (access
	// tokens and device credentials end), the refresh-token families
	// revoked and the screening state settled (the new password was
	// screened). Access tokens stop working at once at /users/me and
	// /verify and at resource servers whose verify.Config.CheckAccount
	// compares the epoch; resource servers that check only the signature
	// accept them until they expire (--access-token-ttl).
	n, err := st.SetPassword(ctx, name, hash, class, now)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %q", name)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "password of %q reset; %d refresh-token families revoked\n", name, n)
	return nil
}

// readPassword reads a new password: from a TTY with a hidden, confirmed
// prompt, else the first line of stdin. Passwords are never taken from
// argv, where every user of the machine can read them.
func readPassword(e *env, name string) (string, error) {
	var pw string
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(e.stderr, "Password for %s: ", name)
		b1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(e.stderr, "Repeat password: ")
		b2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(b1) != string(b2) {
			return "", errors.New("passwords do not match")
		}
		pw = string(b1)
	} else {
		line, err := bufio.NewReader(io.LimitReader(e.stdin, password.MaxLen+3)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		pw = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	}
	return pw, nil
}

func userSetDisabled(ctx context.Context, e *env, rawName string, disabled bool) error {
	name, err := accountName(rawName)
	if err != nil {
		return err
	}
	st, err := e.openExistingStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	// One transaction: the flag, a raised account epoch and the
	// account's refresh-token families revoked.
	n, err := st.SetDisabled(ctx, name, disabled, now)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %q", name)
		}
		return err
	}
	if !disabled {
		fmt.Fprintf(e.stdout, "user %q enabled\n", name)
		return nil
	}
	fmt.Fprintf(e.stdout, "user %q disabled; %d refresh-token families revoked\n", name, n)
	return nil
}

func newUserScopesCmd(e *env) *cobra.Command {
	var add, remove []string
	cmd := &cobra.Command{
		Use:   "scopes NAME",
		Short: "Show, grant (--add) or withdraw (--remove) the scopes one account may request",
		Long: `Show the scopes granted to one account, or change them with --add and
--remove (comma separated or repeated). An account may request these and
those serve's --allowed-scopes gives every account; a request for any other
scope is refused with invalid_scope. A change ends the account's current
access tokens at once; its sessions continue, and their next refresh
carries only the scopes still granted.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return userScopes(cmd.Context(), e, args[0], add, remove)
		},
	}
	cmd.Flags().StringSliceVar(&add, "add", nil, "scopes to grant (RFC 6749 scope tokens: printable ASCII without spaces, '\"' or '\\')")
	cmd.Flags().StringSliceVar(&remove, "remove", nil, "scopes to withdraw")
	return cmd
}

// userScopes prints the account's scope grants after adding and removing
// the given ones. Two administrators changing one account's scopes at the
// same moment may lose one change (read, then write); run it again to check.
func userScopes(ctx context.Context, e *env, rawName string, add, remove []string) error {
	name, err := accountName(rawName)
	if err != nil {
		return err
	}
	for _, sc := range slices.Concat(add, remove) {
		if !scope.ValidToken(sc) {
			return usageError{fmt.Errorf("scope %q: %w (printable ASCII without spaces, '\"' or '\\')", sc, scope.ErrSyntax)}
		}
	}
	st, err := e.openExistingStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user %q", name)
	}
	if err != nil {
		return err
	}
	granted := strings.Fields(u.Scopes)
	for _, sc := range add {
		if !slices.Contains(granted, sc) {
			granted = append(granted, sc)
		}
	}
	granted = slices.DeleteFunc(granted, func(sc string) bool { return slices.Contains(remove, sc) })
	if next := strings.Join(granted, " "); next != u.Scopes {
		if err := st.SetScopes(ctx, name, next, time.Now()); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no user %q", name)
			}
			return err
		}
		fmt.Fprintf(e.stdout, "scopes of %q changed; its access tokens issued before no longer work\n", name)
	}
	shown := strings.Join(granted, " ")
	if shown == "" {
		shown = "(none)"
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", name, shown)
	return nil
}

func userList(ctx context.Context, e *env) error {
	st, err := e.openExistingStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tSUB\tSTATUS\tHASH\tCREATED\tSCOPES")
	for _, u := range users {
		status := "enabled"
		if u.Disabled {
			status = "disabled"
		}
		sc, err := st.PasswordScreening(ctx, u.ID)
		if err != nil {
			return err
		}
		switch {
		case sc.ChangeRequired:
			status += ",change-password"
		case sc.Pending:
			status += ",unscreened"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.ID, status, u.HashClass, u.CreatedAt.UTC().Format(time.RFC3339), u.Scopes)
	}
	return tw.Flush()
}

func userImport(ctx context.Context, e *env, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return usageError{err}
	}
	defer f.Close()
	users, err := userfile.Parse(f, path, userfile.Auto)
	if err != nil {
		return fmt.Errorf("import %s: nothing imported:\n%w", path, err)
	}
	// Imported hashes cannot be screened: each account is screened at its
	// next successful login, when the password is at hand.
	for i := range users {
		users[i].Unscreened = true
	}
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CreateUsers(ctx, users, time.Now()); err != nil {
		return fmt.Errorf("import %s: nothing imported: %w", path, err)
	}
	fmt.Fprintf(e.stdout, "imported %d users; at their next successful login their hashes are rehashed to argon2id and their passwords screened\n", len(users))
	return nil
}

// accountName is the stored form of the account name a user command was
// given, or a usage error saying why it cannot be one.
func accountName(raw string) (string, error) {
	name, err := username.Normalize(raw)
	if err != nil {
		return "", usageError{fmt.Errorf("username %q: %w", raw, err)}
	}
	return name, nil
}
