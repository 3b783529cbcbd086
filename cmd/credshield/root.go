package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/credshield/credshield/internal/config"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError marks errors in how the command was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// env is what every subcommand gets from the process: its streams, its
// environment and the global flags. Flag parsing sets the flags before any
// command runs; after that env is only read. It holds nothing a command
// builds: the parts of serve and protect are constructed by functions that
// take what they need and return what they build (see serve), so the order
// they must be built in is the order of their data.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	dataDir        string
	db             string // --db: which store (config.ParseDB)
	logLevel       string
	onLogger       func(*slog.Logger) // told of the command's logger (see routeRedisLogs); may be nil
	configFile     string             // --config: read by config.Apply through the flag
}

// run executes credshield with args and returns the process exit code.
// Options adjust the process-wide parts only main may set (routeRedisLogs).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool), opts ...func(*env)) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: lookupEnv}
	for _, opt := range opts {
		opt(e)
	}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "credshield: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	// A command that needs more than pass/fail (scan: 0/1/2/3) returns
	// an exitCodeError carrying its code.
	var xe exitCodeError
	if errors.As(err, &xe) {
		return xe.code
	}
	return exitError
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "credshield",
		Short:         "A login and token service that stops credential stuffing",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := config.Apply(cmd.Flags(), e.lookupEnv, settingOfAny(cmd.Root())); err != nil {
				return usageError{err}
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&e.configFile, config.ConfigFlag, "", "YAML file of settings: each key is a flag name (listen: 127.0.0.1:8080); flags and CREDSHIELD_* variables override it (docs/config.example.yaml)")
	root.PersistentFlags().StringVar(&e.dataDir, "data-dir", config.Default().DataDir, "directory for the database and signing keys")
	root.PersistentFlags().StringVar(&e.db, "db", "", "the store: sqlite://PATH, or a postgres:// URL shared by replicas (default: SQLite in --data-dir)")
	root.PersistentFlags().StringVar(&e.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServeCmd(e), newUserCmd(e), newKeysCmd(e), newVersionCmd(e), newChallengeCmd(e), newScanCmd(e), newSimulateCmd(e))
	root.AddCommand(newProtectCmd(e), newPasswordsCmd(e), newConfigCmd(e), newGuardCmd(e))
	refuseUnknownSubcommands(root)
	return root
}

// settingOfAny reports whether key is a flag of some command under root:
// one settings file may serve serve, user add and keys rotate alike, each
// taking the keys it has, while a key no command has is a mistake.
func settingOfAny(root *cobra.Command) func(string) bool {
	names := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(f *pflag.Flag) { names[f.Name] = true }
		c.LocalFlags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	delete(names, "help")
	return func(key string) bool { return names[key] }
}

// logger returns the JSON logger on stderr at the configured level.
func (e *env) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	log := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	if e.onLogger != nil {
		e.onLogger(log)
	}
	return log, nil
}

// openStore opens the store --db names (SQLite in the data directory by
// default); see openDB.
func (e *env) openStore(ctx context.Context) (accountStore, error) {
	return e.openDB(ctx, e.db)
}

// keysDir is where signing keys live inside the data directory.
func (e *env) keysDir() string { return filepath.Join(e.dataDir, "keys") }
