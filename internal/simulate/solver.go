package simulate

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sync"

	"github.com/credshield/credshield/internal/challenge"
)

// solver solves challenges for the attacker and the simulated browsers,
// returning the solution and the argon2id evaluations it cost.
type solver interface {
	solve(ctx context.Context, token string) (string, int, error)
	close()
}

// inProcess solves in this process, at this process's priority. It is
// the fallback when no solver binary is given (tests of this package).
type inProcess struct{}

func (inProcess) solve(ctx context.Context, token string) (string, int, error) {
	sol, evals, err := challenge.Solve(ctx, token, 1)
	if err != nil {
		return "", evals, fmt.Errorf("solve: %w", err)
	}
	return sol, evals, nil
}

func (inProcess) close() {}

// solverNice is the CPU priority of the solver processes: the lowest.
// The attacker's and the browsers' machines are not the server's; on one
// machine the solvers get only the cycles the server leaves, as if they
// ran elsewhere. Their cost is counted in calibrated CPU units, not
// wall-clock time, so this changes no budget, only how long a run takes.
const solverNice = 19

// processPool solves in `credshield challenge solve --stream` child
// processes at the lowest CPU priority, one challenge at a time each.
type processPool struct {
	bin  string
	idle chan *solverProc

	mu     sync.Mutex
	all    map[*solverProc]bool
	closed bool
}

// solverProc is one solver child and its pipes.
type solverProc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	done chan struct{}
}

// solveLine is one answer of `credshield challenge solve --stream`.
type solveLine struct {
	Solution    string `json:"solution"`
	Evaluations int    `json:"evaluations"`
	Error       string `json:"error"`
}

// newProcessPool starts n solver processes of bin.
func newProcessPool(bin string, n int) (*processPool, error) {
	p := &processPool{bin: bin, idle: make(chan *solverProc, n), all: map[*solverProc]bool{}}
	for range n {
		sp, err := p.start()
		if err != nil {
			p.close()
			return nil, err
		}
		p.idle <- sp
	}
	return p, nil
}

func (p *processPool) start() (*solverProc, error) {
	cmd := exec.Command(p.bin, "challenge", "solve", "--stream", "--workers", "1", "--nice", fmt.Sprint(solverNice))
	cmd.Env = cleanEnv()
	dieWithParent(cmd)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("solver: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("solver: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start solver %s: %w", p.bin, err)
	}
	sp := &solverProc{cmd: cmd, in: in, out: bufio.NewScanner(out), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(sp.done) }()
	p.mu.Lock()
	p.all[sp] = true
	p.mu.Unlock()
	return sp, nil
}

// solve hands token to an idle solver process. When ctx ends first, the
// process (busy with a challenge nobody wants any more) is killed and a
// fresh one takes its place, so other callers are not starved.
func (p *processPool) solve(ctx context.Context, token string) (string, int, error) {
	var sp *solverProc
	select {
	case sp = <-p.idle:
	case <-ctx.Done():
		return "", 0, ctx.Err()
	}
	type result struct {
		line solveLine
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		if _, err := io.WriteString(sp.in, token+"\n"); err != nil {
			r.err = fmt.Errorf("solver: %w", err)
		} else if !sp.out.Scan() {
			r.err = fmt.Errorf("solver exited: %w", cmp.Or(sp.out.Err(), io.ErrUnexpectedEOF))
		} else {
			r.err = json.Unmarshal(sp.out.Bytes(), &r.line)
		}
		ch <- r
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			p.replace(sp)
			return "", 0, r.err
		}
		p.idle <- sp
		if r.line.Error != "" {
			return "", r.line.Evaluations, fmt.Errorf("solve: %s", r.line.Error)
		}
		return r.line.Solution, r.line.Evaluations, nil
	case <-ctx.Done():
		p.replace(sp)
		return "", 0, ctx.Err()
	}
}

// replace kills sp and puts a new process in its place.
func (p *processPool) replace(sp *solverProc) {
	p.stop(sp)
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return
	}
	if fresh, err := p.start(); err == nil {
		p.idle <- fresh
	}
}

func (p *processPool) stop(sp *solverProc) {
	_ = sp.in.Close()
	_ = sp.cmd.Process.Kill()
	<-sp.done
	p.mu.Lock()
	delete(p.all, sp)
	p.mu.Unlock()
}

// close stops every solver process.
func (p *processPool) close() {
	p.mu.Lock()
	p.closed = true
	procs := make([]*solverProc, 0, len(p.all))
	for sp := range p.all {
		procs = append(procs, sp)
	}
	p.mu.Unlock()
	for _, sp := range procs {
		p.stop(sp)
	}
}

// newSolver is the solver of a run: solver processes of bin, or this
// process when bin is empty.
func newSolver(bin string, n int) (solver, error) {
	if bin == "" {
		return inProcess{}, nil
	}
	return newProcessPool(bin, n)
}
