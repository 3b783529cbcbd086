package simulate

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/challenge"
)

// niceOf reads a process's nice value from /proc/PID/stat (field 19).
func niceOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The command name (field 2) may hold spaces; fields count from its ')'.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	n, err := strconv.Atoi(fields[16])
	if err != nil {
		t.Fatalf("nice field %q: %v", fields[16], err)
	}
	return n
}

func TestProcessPool(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the credshield binary")
	}
	ctx := context.Background()
	replay, err := challenge.NewMemoryReplay(16)
	if err != nil {
		t.Fatal(err)
	}
	is, err := challenge.NewIssuer(bytes.Repeat([]byte{9}, 32), challenge.Config{MemoryKiB: 8}, replay)
	if err != nil {
		t.Fatal(err)
	}
	client := []byte("ip:192.0.2.9|user:bob")
	issue := func(difficulty int) challenge.Challenge {
		t.Helper()
		c, err := is.Issue(ctx, time.Now(), client, difficulty)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	p, err := newProcessPool(buildServer(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()

	c := issue(4)
	sol, evals, err := p.solve(ctx, c.Token)
	if err != nil || evals < 1 {
		t.Fatalf("solve: %q, %d evaluations, %v", sol, evals, err)
	}
	if _, err := is.Verify(ctx, time.Now(), client, c.Token, sol); err != nil {
		t.Errorf("the pool's solution does not verify: %v", err)
	}
	if runtime.GOOS == "linux" {
		for sp := range p.all {
			if n := niceOf(t, sp.cmd.Process.Pid); n != solverNice {
				t.Errorf("solver process runs at nice %d, want %d", n, solverNice)
			}
		}
	}

	// A garbage token is the solver's error, and the process stays.
	if _, _, err := p.solve(ctx, "not-a-token"); err == nil || !strings.Contains(err.Error(), "solve") {
		t.Errorf("garbage token: %v, want the solver's error", err)
	}

	// A caller that gives up mid-solve gets ctx's error at once, and a
	// fresh process replaces the busy one.
	// 2^32 evaluations expected: the chance of a solution within the
	// 200 ms below (some 10^4 evaluations) is about 10^-6.
	hard := issue(challenge.MaxDifficulty)
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, _, err := p.solve(cctx, hard.Token); err == nil {
		t.Fatal("solve outlived its context")
	}
	c = issue(3)
	sol, _, err = p.solve(ctx, c.Token)
	if err != nil {
		t.Fatalf("solve after a cancelled one: %v", err)
	}
	if _, err := is.Verify(ctx, time.Now(), client, c.Token, sol); err != nil {
		t.Errorf("solution after a replaced process: %v", err)
	}
	if len(p.all) != 1 {
		t.Errorf("%d solver processes after a replacement, want 1", len(p.all))
	}
}
