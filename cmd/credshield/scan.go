package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/credshield/credshield/internal/config"
	"github.com/credshield/credshield/internal/loginapi"
	"github.com/credshield/credshield/internal/scan"
	"github.com/credshield/credshield/internal/scan/report"
)

// Exit codes of credshield scan beyond exitOK, exitError and exitUsage.
const (
	exitFindings     = 1 // findings at or above --fail-on
	exitInconclusive = 3 // nothing at or above --fail-on, but some checks undecided
)

// exitCodeError carries a specific exit code out of a command (scan needs
// 0/1/2/3); run maps it to the process exit code.
type exitCodeError struct {
	code int
	err  error
}

func (e exitCodeError) Error() string { return e.err.Error() }
func (e exitCodeError) Unwrap() error { return e.err }

func newScanCmd(e *env) *cobra.Command {
	var (
		opts             scan.Options
		format, out      string
		failOn, wordlist string
		sarifArtifact    string
		passwordFile     string
		tokenFile        string
	)
	cmd := &cobra.Command{
		Use:   "scan URL",
		Short: "Audit an API for credential-stuffing exposure and weak JWT validation",
		Long: `Audit an API (typically FastAPI-style: POST /token, Bearer JWTs) you own:
rate limits on the login, username enumeration by answer and timing, and
JWT validation (alg none, unverified signatures, guessable HMAC secrets,
key confusion, embedded jwk, kid injection, psychic ECDSA signatures,
expired or foreign tokens, CORS).

Endpoints come from the OpenAPI document (/openapi.json, /docs/openapi.json,
/swagger.json) unless --token-url/--protected-url say otherwise. Without an
OAuth2 password flow there, the scan asks the well-known routes of the
services it knows (Ory Kratos: GET /self-service/login/api; Authelia:
/api/firstfactor; Keycloak, with --realm: the realm's OpenID metadata;
Supabase Auth: GET /health, or /auth/v1/health behind Supabase's gateway)
and
speaks the login API of the one that answers;
--profile NAME names it instead. Kratos sessions and Authelia cookies are
not JWTs: the JWT checks do not apply to them. Requests
stay on the URL's origin, within --max-requests and --rps. The scan sends a
few wrong passwords for --username (at most 8) and leaves the scanning
client rate limited.

Secrets stay off the command line, where every user of the machine can read
them (ps): give the password in CREDSHIELD_SCAN_PASSWORD or a file
(--password-file PATH, or --password-file - for stdin), and a token in
CREDSHIELD_SCAN_TOKEN or --token-file. --password and --token still work
but warn.

On a terminal a progress line on stderr shows the probe running and the
requests sent; it is cleared before the report and absent when stderr is
not a terminal (CI logs).

Exit codes, for CI:
  0  pass: no finding at or above --fail-on, and every check that ran was
     decided
  1  fail: a finding at or above --fail-on
  2  the scan did not run: bad flags, an unreachable target, a login that
     failed, a report that could not be written
  3  no finding at or above --fail-on, but a check that ran could not
     decide (request budget spent, throttled too early): raise
     --max-requests or rerun, then it can pass or fail
Checks that need an input you did not give (the enumeration checks need
--username, the token checks a token) are listed as skipped in the report
and do not change the exit code. docs/scan.md documents the checks and the
JSON output.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			threshold, err := scan.ParseSeverity(failOn)
			if err != nil {
				return usageError{fmt.Errorf("--fail-on: %w", err)}
			}
			if format != "text" && format != "json" && format != "sarif" {
				return usageError{fmt.Errorf("--format %q: want text, json or sarif", format)}
			}
			if err := scanSecrets(cmd, e, &opts, passwordFile, tokenFile); err != nil {
				return err
			}
			if opts.Token != "" && opts.Password != "" {
				return usageError{errors.New("--token and --password exclude each other")}
			}
			if (opts.Username == "") != (opts.Password == "") && opts.Token == "" {
				return usageError{errors.New("--username and --password go together (or pass --token)")}
			}
			if opts.MaxRequests < 1 || opts.RPS <= 0 {
				return usageError{errors.New("--max-requests and --rps must be positive")}
			}
			if wordlist != "" {
				f, err := os.Open(wordlist)
				if err != nil {
					return usageError{fmt.Errorf("--wordlist: %w", err)}
				}
				defer f.Close()
				opts.Wordlist = f
			}
			return runScan(cmd, e, opts, format, out, sarifArtifact, threshold)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Username, "username", "", "log in as this user (a test account: the scan sends it a few wrong passwords)")
	f.StringVar(&passwordFile, "password-file", "", "read the password of --username from this file's first line (- for stdin); or set "+envScanPassword)
	f.StringVar(&tokenFile, "token-file", "", "read an access token to use instead of logging in from this file's first line (- for stdin); or set "+envScanToken)
	f.StringVar(&opts.Password, "password", "", "password of --username (deprecated: other users see it in ps; use "+envScanPassword+" or --password-file)")
	f.StringVar(&opts.Token, "token", "", "an access token (deprecated: other users see it in ps; use "+envScanToken+" or --token-file)")
	f.StringVar(&opts.Realm, "realm", "", "the Keycloak realm to scan: its routes name it")
	f.StringVar(&opts.ClientID, "client-id", "", "the OAuth2 client of a Keycloak direct grant")
	f.StringVar(&opts.Profile, "profile", "", "the login API to speak: "+strings.Join(loginapi.Names(), ", ")+" (default: found by discovery)")
	f.StringVar(&opts.TokenURL, "token-url", "", "token endpoint (default: from the OpenAPI document, else /token)")
	f.StringVar(&opts.ProtectedURL, "protected-url", "", "a GET endpoint that needs the token (default: from the OpenAPI document, else /users/me)")
	f.StringVar(&format, "format", "text", "output format: text, json or sarif")
	f.StringVar(&out, "out", "", "write the report to this file instead of stdout")
	f.StringVar(&failOn, "fail-on", "high", "exit 1 when a finding is at or above: critical, high, medium or low")
	f.IntVar(&opts.MaxRequests, "max-requests", scan.DefaultMaxRequests, "most requests the scan sends")
	f.Float64Var(&opts.RPS, "rps", scan.DefaultRPS, "most requests per second")
	f.StringVar(&wordlist, "wordlist", "", "file of candidate HMAC secrets, one per line, tried after the built-in list")
	f.StringVar(&sarifArtifact, "sarif-artifact", "openapi.json", "repository file SARIF results point at (GitHub rejects URL locations)")
	return cmd
}

// Where scan takes its secrets from besides the deprecated flags.
const (
	envScanPassword = "CREDSHIELD_SCAN_PASSWORD"
	envScanToken    = "CREDSHIELD_SCAN_TOKEN"
)

// scanSecrets fills opts.Password and opts.Token from the one place each
// was given: its file (or stdin), its environment variable, or its flag.
// A secret in argv is readable by every user of the machine, so the flags
// only warn, for scripts written before the other ways existed.
func scanSecrets(cmd *cobra.Command, e *env, opts *scan.Options, passwordFile, tokenFile string) error {
	if passwordFile == "-" && tokenFile == "-" {
		return usageError{errors.New("--password-file and --token-file cannot both read stdin")}
	}
	for _, s := range []struct {
		flag, fileFlag, file, envName string
		dst                           *string
	}{
		{"password", "password-file", passwordFile, envScanPassword, &opts.Password},
		{"token", "token-file", tokenFile, envScanToken, &opts.Token},
	} {
		// The generic CREDSHIELD_<FLAG> variables (config.ApplyEnv) may
		// have set the flag already; only a value from argv warns.
		generic, inGeneric := e.lookupEnv(config.EnvName(s.flag))
		inArgv := cmd.Flags().Changed(s.flag) && !(inGeneric && generic == *s.dst)
		fromEnv, inEnv := e.lookupEnv(s.envName)
		inEnv = inEnv && fromEnv != ""
		given := 0
		for _, b := range []bool{cmd.Flags().Changed(s.flag), s.file != "", inEnv} {
			if b {
				given++
			}
		}
		if given > 1 {
			return usageError{fmt.Errorf("give the %s once: --%s, --%s or %s", s.flag, s.fileFlag, s.flag, s.envName)}
		}
		switch {
		case s.file != "":
			v, err := readSecretLine(e, s.file)
			if err != nil {
				return usageError{fmt.Errorf("--%s: %w", s.fileFlag, err)}
			}
			*s.dst = v
		case inEnv:
			*s.dst = fromEnv
		case inArgv:
			fmt.Fprintf(e.stderr, "credshield: warning: --%s puts the %s on the command line, where other users of this machine can read it; use %s or --%s\n",
				s.flag, s.flag, s.envName, s.fileFlag)
		}
	}
	return nil
}

// readSecretLine returns the first line of path ("-": stdin), without its
// line ending: a file written by echo or a secret manager works as is.
func readSecretLine(e *env, path string) (string, error) {
	var r io.Reader = e.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("empty")
	}
	return line, nil
}

func runScan(cmd *cobra.Command, e *env, opts scan.Options, format, out, artifact string, threshold scan.Severity) error {
	progress := newProgressLine(e.stderr)
	if progress != nil {
		opts.Progress = func(p scan.Progress) {
			progress.show(time.Now(), fmt.Sprintf("%-32s %d/%d requests", p.Probe, p.Sent, p.Budget))
		}
	}
	rep, err := scan.Run(cmd.Context(), opts)
	// Before anything else is written: the report may go to the same
	// terminal, and must not start on the progress line's remains.
	progress.clear()
	if err != nil {
		return exitCodeError{exitUsage, err} // the contract: 2 for usage or runtime errors
	}
	var buf bytes.Buffer
	switch format {
	case "json":
		err = report.JSON(&buf, rep)
	case "sarif":
		err = report.SARIF(&buf, rep, artifact, version)
	default:
		color := false
		if f, ok := e.stdout.(*os.File); ok && out == "" && term.IsTerminal(int(f.Fd())) {
			color = true
		}
		err = report.Text(&buf, rep, color)
	}
	if err != nil {
		return exitCodeError{exitUsage, err}
	}
	var w io.Writer = e.stdout
	if out != "" {
		if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
			return exitCodeError{exitUsage, fmt.Errorf("--out: %w", err)}
		}
	} else if _, err := w.Write(buf.Bytes()); err != nil {
		return exitCodeError{exitUsage, fmt.Errorf("write report: %w", err)}
	}
	if rep.Worst() >= threshold && len(rep.Findings) > 0 {
		return exitCodeError{exitFindings, fmt.Errorf("%s: findings at or above %s", rep.Target, threshold)}
	}
	if len(rep.Inconclusive) > 0 {
		return exitCodeError{exitInconclusive, fmt.Errorf("%s: %d checks inconclusive", rep.Target, len(rep.Inconclusive))}
	}
	return nil
}
