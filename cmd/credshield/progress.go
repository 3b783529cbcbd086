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
	w    io.Writer
	mu   sync.Mutex
	last time.Time // when the line was last written; requires mu held
	on   bool      // the line shows something; requires mu held
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
	if p.on && now.Sub(p.last) < progressEvery {
		return
	}
	p.last, p.on = now, true
	fmt.Fprintf(p.w, "\r\x1b[K%s", text)
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
		p.on = false
	}
}
