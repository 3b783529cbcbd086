package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

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
}

// run executes credshield with args and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: lookupEnv}
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
			if err := config.ApplyEnv(cmd.Flags(), e.lookupEnv); err != nil {
				return usageError{err}
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&e.dataDir, "data-dir", config.Default().DataDir, "directory for the database and signing keys")
	root.PersistentFlags().StringVar(&e.db, "db", "", "the store: sqlite://PATH, or a postgres:// URL shared by replicas (default: SQLite in --data-dir)")
	root.PersistentFlags().StringVar(&e.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServeCmd(e), newUserCmd(e), newKeysCmd(e), newVersionCmd(e), newChallengeCmd(e), newScanCmd(e), newSimulateCmd(e))
	root.AddCommand(newProtectCmd(e), newPasswordsCmd(e), newGuardCmd(e))
	refuseUnknownSubcommands(root)
	return root
}

// logger returns the JSON logger on stderr at the configured level.
func (e *env) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	return slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level})), nil
}

// openStore opens the store --db names (SQLite in the data directory by
// default); see openDB.
func (e *env) openStore(ctx context.Context) (accountStore, error) {
	return e.openDB(ctx, e.db)
}

// keysDir is where signing keys live inside the data directory.
func (e *env) keysDir() string { return filepath.Join(e.dataDir, "keys") }
