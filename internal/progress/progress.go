// Package progress shows how far a long phase is: a self-rewriting line on a terminal, a line per tenth otherwise
// (CI logs stay short).
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Bar tracks one phase of known size. The zero value and a nil *Bar are silent.
type Bar struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	name    string
	total   int
	done    int
	start   time.Time
	lastOut time.Time
	lastDec int
	now     func() time.Time
}

// New starts a phase of total steps, written to w; tty selects the rewriting display.
func New(w io.Writer, tty bool, now func() time.Time, name string, total int) *Bar {
	if w == nil {
		return nil
	}
	t := now()
	return &Bar{w: w, tty: tty, name: name, total: total, start: t, now: now, lastDec: -1, lastOut: t}
}

// Add advances the phase by n steps.
func (b *Bar) Add(n int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	t := b.now()
	if b.tty {
		if t.Sub(b.lastOut) < 100*time.Millisecond && b.done < b.total {
			return
		}
		b.lastOut = t
		fmt.Fprintf(b.w, "\r\033[K%-28s %6d/%-6d %5.1fs", b.name, b.done, b.total, t.Sub(b.start).Seconds())
		return
	}
	if b.total > 0 {
		// A line per tenth, and only once the phase has run for a while: short phases print just Done.
		if dec := b.done * 10 / b.total; dec > b.lastDec && dec < 10 && t.Sub(b.lastOut) >= 2*time.Second {
			b.lastDec = dec
			b.lastOut = t
			fmt.Fprintf(b.w, "%s %d/%d (%.1fs)\n", b.name, b.done, b.total, t.Sub(b.start).Seconds())
		}
	}
}

// Done ends the phase with a final line.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty {
		fmt.Fprint(b.w, "\r\033[K")
	}
	fmt.Fprintf(b.w, "%s %d/%d done in %.1fs\n", b.name, b.done, b.total, b.now().Sub(b.start).Seconds())
}
