package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress draws a one-line bar on stderr for long replays, only when
// stderr is a terminal: logs and CI output stay clean.
type progress struct {
	w     io.Writer
	name  string
	size  int64
	start time.Time
	shown bool
}

const progressMinBytes = 64 << 20 // smaller files finish before a bar helps

func newProgress(w io.Writer, name string, size int64) *progress {
	f, ok := w.(*os.File)
	if !ok || size < progressMinBytes {
		return nil
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return &progress{w: w, name: name, size: size, start: time.Now()}
}

func (p *progress) update(done int64) {
	if p == nil || time.Since(p.start) < 500*time.Millisecond {
		return
	}
	const width = 30
	frac := min(float64(done)/float64(p.size), 1)
	fill := int(frac * width)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < fill {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.w, "\r%s [%s] %3.0f%%", p.name, bar, frac*100)
	p.shown = true
}

func (p *progress) done() {
	if p != nil && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
