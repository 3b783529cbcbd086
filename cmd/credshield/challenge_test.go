package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/challenge"
)

func TestChallengeSolve(t *testing.T) {
	ctx := context.Background()
	replay, err := challenge.NewMemoryReplay(16)
	if err != nil {
		t.Fatal(err)
	}
	// A cheap argon2id cost: the solver reads it from the token.
	is, err := challenge.NewIssuer(bytes.Repeat([]byte{7}, 32), challenge.Config{MemoryKiB: 8}, replay)
	if err != nil {
		t.Fatal(err)
	}
	client := []byte("ip:192.0.2.1|user:alice")
	newChallenge := func() challenge.Challenge {
		c, err := is.Issue(ctx, time.Now(), client, 5)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	verify := func(name, tok, sol string) {
		t.Helper()
		if _, err := is.Verify(ctx, time.Now(), client, tok, sol); err != nil {
			t.Errorf("%s: Verify(%q): %v", name, sol, err)
		}
	}

	c := newChallenge()
	code, out, stderr := credshield(t, "", nil, "challenge", "solve", "--workers", "2", c.Token)
	if code != 0 || !strings.Contains(stderr, "evaluations") {
		t.Fatalf("solve TOKEN: %d %q %q", code, out, stderr)
	}
	verify("solve TOKEN", c.Token, strings.TrimSpace(out))

	// The token endpoint's whole answer on stdin, form fields out.
	c = newChallenge()
	body, err := json.Marshal(challenge.NewResponse(c))
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr = credshield(t, string(body), nil, "challenge", "solve", "--form", "-")
	if code != 0 {
		t.Fatalf("solve --form - : %d %q", code, stderr)
	}
	form, err := url.ParseQuery(strings.TrimSpace(out))
	if err != nil || form.Get("challenge") != c.Token {
		t.Fatalf("form output %q: %v", out, err)
	}
	verify("solve --form -", form.Get("challenge"), form.Get("challenge_solution"))

	// The challenge object alone, and the bare token, on stdin.
	c = newChallenge()
	obj, _ := json.Marshal(c)
	if code, out, stderr = credshield(t, string(obj), nil, "challenge", "solve", "-"); code != 0 {
		t.Fatalf("solve - (object): %d %q", code, stderr)
	}
	verify("solve - (object)", c.Token, strings.TrimSpace(out))
	c = newChallenge()
	if code, out, stderr = credshield(t, c.Token+"\n", nil, "challenge", "solve", "-"); code != 0 {
		t.Fatalf("solve - (token): %d %q", code, stderr)
	}
	verify("solve - (token)", c.Token, strings.TrimSpace(out))

	// --stream: one JSON answer per line, errors included, in order.
	c1, c2 := newChallenge(), newChallenge()
	code, out, stderr = credshield(t, c1.Token+"\nnot-a-token\n"+c2.Token+"\n", nil, "challenge", "solve", "--stream", "--workers", "1")
	if code != 0 {
		t.Fatalf("solve --stream: %d %q", code, stderr)
	}
	var answers []streamAnswer
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a streamAnswer
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("--stream line %q: %v", line, err)
		}
		answers = append(answers, a)
	}
	if len(answers) != 3 {
		t.Fatalf("--stream: %d answers, want 3: %q", len(answers), out)
	}
	verify("--stream first", c1.Token, answers[0].Solution)
	if answers[1].Error == "" || answers[1].Solution != "" {
		t.Errorf("--stream garbage line: %+v, want an error and no solution", answers[1])
	}
	verify("--stream third", c2.Token, answers[2].Solution)
	if answers[0].Evaluations < 1 || answers[2].Evaluations < 1 {
		t.Errorf("--stream evaluations %d, %d: want at least 1 each", answers[0].Evaluations, answers[2].Evaluations)
	}

	expired, err := is.Issue(ctx, time.Now().Add(-time.Hour), client, 5)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"malformed token", "", []string{"not-a-token"}, 2, "malformed"},
		{"no token", "", nil, 2, "want 1 argument"},
		{"token with --stream", "", []string{"--stream", c.Token}, 2, "want 0 argument"},
		{"raising the priority", "", []string{"--nice", "-5", c.Token}, 2, "--nice -5"},
		{"nice out of range", "", []string{"--nice", "20", c.Token}, 2, "--nice 20"},
		{"zero workers", "", []string{"--workers", "0", c.Token}, 2, "--workers"},
		{"JSON without a token", `{"error":"invalid_grant"}`, []string{"-"}, 2, "no \"token\""},
		{"bad JSON", `{"challenge":`, []string{"-"}, 2, "JSON"},
		{"expired", "", []string{expired.Token}, 1, "expired"},
	}
	for _, tt := range tests {
		code, _, stderr := credshield(t, tt.stdin, nil, append([]string{"challenge", "solve"}, tt.args...)...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: exit %d %q, want %d and %q", tt.name, code, stderr, tt.code, tt.want)
		}
	}
}
