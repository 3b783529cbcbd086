package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credshield/credshield/internal/challenge"
)

// maxChallengeInput bounds what `challenge solve -` reads from stdin: a
// token endpoint's error body is a few hundred bytes.
const maxChallengeInput = 64 << 10

func newChallengeCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "challenge",
		Short: "Work with the proof-of-work challenges the token endpoint demands",
	}
	var (
		workers int
		form    bool
		stream  bool
		nice    int
	)
	solve := &cobra.Command{
		Use:   "solve [--workers N] [--form] [--nice N] TOKEN|-  |  solve --stream",
		Short: "Solve a challenge and print the solution",
		Long: `Solve a proof-of-work challenge and print the solution for the
challenge_solution form field on stdout (with --form, the two form fields
challenge=...&challenge_solution=... ready to append to a retried request).
The number of evaluations and the time taken go to stderr.

The challenge is the token itself, or "-" to read from stdin either the
token or the JSON the token endpoint answered: the whole
{"error":"challenge_required","challenge":{...}} body or the challenge
object alone.

--stream keeps solving: one challenge token per line on stdin, one JSON
line per challenge on stdout ({"solution":"...","evaluations":N} or
{"error":"..."}), until stdin closes. credshield simulate runs its
attackers' solvers this way. --nice N runs this process at nice value N, a lower CPU
priority (Linux), so solving takes only the cycles other work leaves.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if workers < 1 {
				return usageError{fmt.Errorf("--workers %d, want at least 1", workers)}
			}
			if want := map[bool]int{false: 1, true: 0}[stream]; len(args) != want {
				return usageError{fmt.Errorf("want %d argument(s), got %d", want, len(args))}
			}
			if nice != 0 {
				if nice < 0 || nice > 19 {
					return usageError{fmt.Errorf("--nice %d: want 1 to 19 (lower priority only)", nice)}
				}
				if err := lowerPriority(nice); err != nil {
					return fmt.Errorf("--nice: %w", err)
				}
			}
			if stream {
				return challengeSolveStream(cmd.Context(), e, workers)
			}
			return challengeSolve(cmd.Context(), e, args[0], workers, form)
		},
	}
	solve.Flags().IntVar(&workers, "workers", runtime.NumCPU(), "goroutines solving in parallel, each holding one argon2id block (1 MiB by default)")
	solve.Flags().BoolVar(&form, "form", false, "print the form fields challenge=...&challenge_solution=... instead of the bare solution")
	solve.Flags().BoolVar(&stream, "stream", false, "solve one token per stdin line, answering one JSON line each, until stdin closes")
	solve.Flags().IntVar(&nice, "nice", 0, "run at nice value N, a lower CPU priority (1-19, Linux)")
	cmd.AddCommand(solve)
	return cmd
}

func challengeSolve(ctx context.Context, e *env, arg string, workers int, form bool) error {
	tok := arg
	if arg == "-" {
		var err error
		if tok, err = readChallenge(e.stdin); err != nil {
			return err
		}
	}
	c, err := challenge.Decode(tok)
	if err != nil {
		return usageError{err}
	}
	start := time.Now()
	if exp := c.ExpiresAtTime(); !start.Before(exp) {
		return fmt.Errorf("challenge expired at %s; ask the server for a new one", exp.UTC().Format(time.RFC3339))
	}
	sol, evals, err := challenge.Solve(ctx, tok, workers)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(e.stderr, "solved difficulty %d (%d evaluations expected) in %d evaluations, %v, %.2f ms each on %d workers\n",
		c.Difficulty, 1<<c.Difficulty, evals, elapsed.Round(time.Millisecond),
		float64(elapsed.Microseconds())/1000/float64(evals)*float64(workers), workers)
	if form {
		fmt.Fprintln(e.stdout, url.Values{challenge.FormToken: {tok}, challenge.FormSolution: {sol}}.Encode())
		return nil
	}
	fmt.Fprintln(e.stdout, sol)
	return nil
}

// streamAnswer is one line of `challenge solve --stream`.
type streamAnswer struct {
	Solution    string `json:"solution,omitempty"`
	Evaluations int    `json:"evaluations"`
	Error       string `json:"error,omitempty"`
}

// challengeSolveStream solves the challenge on each line of stdin and
// answers each with one JSON line, until stdin closes or ctx ends.
func challengeSolveStream(ctx context.Context, e *env, workers int) error {
	in := bufio.NewScanner(e.stdin)
	in.Buffer(make([]byte, 0, 4096), maxChallengeInput)
	enc := json.NewEncoder(e.stdout)
	for in.Scan() {
		var a streamAnswer
		sol, evals, err := challenge.Solve(ctx, strings.TrimSpace(in.Text()), workers)
		a.Evaluations = evals
		if err != nil {
			a.Error = err.Error()
		} else {
			a.Solution = sol
		}
		if err := enc.Encode(a); err != nil {
			return fmt.Errorf("write answer: %w", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err := in.Err(); err != nil {
		return fmt.Errorf("read challenges: %w", err)
	}
	return nil
}

// readChallenge reads a token, or the token endpoint's JSON answer or
// its challenge object, from r.
func readChallenge(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxChallengeInput+1))
	if err != nil {
		return "", fmt.Errorf("read challenge from stdin: %w", err)
	}
	if len(b) > maxChallengeInput {
		return "", usageError{fmt.Errorf("challenge on stdin is over %d bytes", maxChallengeInput)}
	}
	s := strings.TrimSpace(string(b))
	if !strings.HasPrefix(s, "{") {
		return s, nil
	}
	var body struct {
		Token     string               `json:"token"`
		Challenge *challenge.Challenge `json:"challenge"`
	}
	if err := json.Unmarshal([]byte(s), &body); err != nil {
		return "", usageError{fmt.Errorf("challenge JSON on stdin: %w", err)}
	}
	switch {
	case body.Challenge != nil && body.Challenge.Token != "":
		return body.Challenge.Token, nil
	case body.Token != "":
		return body.Token, nil
	}
	return "", usageError{errors.New(`challenge JSON on stdin has no "token" nor "challenge":{"token"}`)}
}
