package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/credshield/credshield/internal/config"
)

func newConfigCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check a settings file, or print the settings a command would run with",
		Long: `A settings file is YAML: each key is a flag name without its dashes, each
value what the flag would take (a list flag takes a YAML list or a comma-separated
string). Give it to any command with --config FILE or CREDSHIELD_CONFIG; flags
win over CREDSHIELD_* variables, which win over the file. One file may serve
several commands (serve, user add, keys rotate): each takes the keys it has,
and a key that no command has is an error naming its line. docs/config.example.yaml
is an annotated example.`,
		// The subcommands read the file they are given themselves: the
		// root's layering of CREDSHIELD_CONFIG must not get in first.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE [COMMAND]",
		Short: "Check a settings file for COMMAND (serve by default) without starting anything",
		Long: `Check FILE as COMMAND (serve by default; protect, user add, ...) would read
it: unknown keys, values that do not parse, and for serve and protect every
check made at start (weak hash settings, an http issuer off loopback, a
certificate that does not match its key...). CREDSHIELD_* variables are
ignored: this checks the file as written. Exits 2 when the file is wrong.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return usageError{errors.New("config check needs a FILE")}
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			return configCheck(e, args[0], args[1:])
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "print [COMMAND] [FLAGS]",
		Short: "Print the settings COMMAND (serve by default) would run with, secrets redacted",
		Long: `Print every setting of COMMAND (serve by default) as it would run with the
given flags, the CREDSHIELD_* variables and the --config file, as a settings
file with where each value came from. Passwords in URLs and secret values are
redacted; the key-encryption key is never shown, only whether it is set.
Example: credshield config print serve --config /etc/credshield.yaml --listen :8443`,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			return configPrint(e, args)
		},
	})
	return cmd
}

// commandFor finds the command a config subcommand is about in a fresh
// command tree over ee: the leading words of args (serve when there are
// none), and the rest of args, its flags.
func commandFor(ee *env, args []string) (*cobra.Command, []string, error) {
	root := newRoot(ee)
	n := 0
	for n < len(args) && !strings.HasPrefix(args[n], "-") {
		n++
	}
	path := args[:n]
	if n == 0 {
		path = []string{"serve"}
	}
	target, _, err := root.Find(path)
	if err != nil || target == root || target.CommandPath() != "credshield "+strings.Join(path, " ") || strings.HasPrefix(path[0], "config") {
		return nil, nil, usageError{fmt.Errorf("unknown command %q: want one that takes settings, such as serve or protect", strings.Join(path, " "))}
	}
	return target, args[n:], nil
}

// configCheck applies file alone (no environment) to COMMAND's flags and
// runs the command's own checks (its PreRunE), without running it.
func configCheck(e *env, file string, args []string) error {
	ee := &env{stdin: e.stdin, stdout: io.Discard, stderr: io.Discard, lookupEnv: func(string) (string, bool) { return "", false }}
	target, rest, err := commandFor(ee, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError{fmt.Errorf("config check takes a FILE and a COMMAND, not flags (%s)", rest[0])}
	}
	if err := target.ParseFlags([]string{"--" + config.ConfigFlag, file}); err != nil {
		return usageError{err}
	}
	o, err := config.Apply(target.Flags(), ee.lookupEnv, settingOfAny(target.Root()))
	if err != nil {
		return usageError{err}
	}
	if target.PreRunE != nil {
		if err := target.PreRunE(target, nil); err != nil {
			return err
		}
	}
	name := strings.TrimPrefix(target.CommandPath(), "credshield ")
	for _, u := range o.Unused {
		fmt.Fprintf(e.stdout, "%s: note: %s is not a setting of %s (another command takes it)\n", file, u, name)
	}
	fmt.Fprintf(e.stdout, "%s: valid for credshield %s\n", file, name)
	return nil
}

// configPrint layers flags, environment and file on COMMAND's flags as
// the command itself would, and writes the result.
func configPrint(e *env, args []string) error {
	ee := &env{stdin: e.stdin, stdout: io.Discard, stderr: io.Discard, lookupEnv: e.lookupEnv}
	target, rest, err := commandFor(ee, args)
	if err != nil {
		return err
	}
	if err := target.ParseFlags(rest); err != nil {
		return usageError{err}
	}
	o, err := config.Apply(target.Flags(), ee.lookupEnv, settingOfAny(target.Root()))
	if err != nil {
		return usageError{err}
	}
	fmt.Fprintf(e.stdout, "# credshield %s: effective settings (command line > CREDSHIELD_* > --config file > default)\n", strings.TrimPrefix(target.CommandPath(), "credshield "))
	for _, name := range []string{config.EnvKEK, config.EnvKEKPrevious} {
		if v, ok := e.lookupEnv(name); ok && v != "" {
			fmt.Fprintf(e.stdout, "# %s is set (never shown)\n", name)
		}
	}
	for _, u := range o.Unused {
		fmt.Fprintf(e.stdout, "# not a setting of this command, left out: %s\n", u)
	}
	return config.WriteEffective(e.stdout, target.Flags(), o)
}
