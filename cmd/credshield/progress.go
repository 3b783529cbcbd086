package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// progressLine is one status line on a terminal, rewritten in place
// ("\r" and erase-line) at most every progressEvery, for the long-running
// commands (scan, simulate). Off a terminal — a CI log, a file, a pipe —
// newProgressLine returns nil and nothing is written: carriage returns
// and escape codes would only litter the log. The nil value is ready and
// does nothing. Safe for concurrent use.
type progressLine struct {
	w      io.Writer
	mu     sync.Mutex
	last   time.Time // when show last drew the line; requires mu held
	on     bool      // the cursor is not at the start of a clean line; requires mu held
	status bool      // the line is show's, to be erased before other text; requires mu held
}

const progressEvery = 100 * time.Millisecond

// newProgressLine returns a progress line on w, or nil when w is not a
// terminal.
func newProgressLine(w io.Writer) *progressLine {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progressLine{w: w}
}

// show replaces the line with text, unless it was written less than
// progressEvery before now.
func (p *progressLine) show(now time.Time, text string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status && now.Sub(p.last) < progressEvery {
		return
	}
	p.last, p.on, p.status = now, true, true
	fmt.Fprintf(p.w, "\r\x1b[K%s", text)
}

// Write writes b (text of its own, such as a finished phase's line) in
// place of show's status line, which the next show draws again; text that
// Write itself left unfinished (a count rewritten with "\r") is continued,
// not erased. A nil line discards b.
func (p *progressLine) Write(b []byte) (int, error) {
	if p == nil {
		return len(b), nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status {
		if _, err := io.WriteString(p.w, "\r\x1b[K"); err != nil {
			return 0, err
		}
		p.on, p.status = false, false
	}
	n, err := p.w.Write(b)
	if len(b) > 0 {
		p.on = b[len(b)-1] != '\n'
	}
	return n, err
}

// clear erases the line, so what is written next starts on a clean line.
func (p *progressLine) clear() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.on, p.status = false, false
	}
}
