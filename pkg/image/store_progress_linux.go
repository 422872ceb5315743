package image

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A progress bar for a long layer unpack. It counts the bytes of the blob as they are
// read (it is an io.Writer behind a TeeReader) and draws from a goroutine of its own, so
// the unpack never waits for the terminal.

const (
	progressDelay    = time.Second // quick layers get no bar at all
	progressInterval = 200 * time.Millisecond
	progressWidth    = 30
)

type progress struct {
	w      io.Writer
	label  string
	total  int64 // -1 if unknown
	start  time.Time
	done   atomic.Int64
	quit   chan struct{}
	exited chan struct{}
}

// startProgress starts a bar on w for a blob of total bytes (-1 if unknown). If w is
// nil or not a terminal, the bar only counts and never draws.
func startProgress(w io.Writer, label string, total int64) *progress {
	p := &progress{w: w, label: label, total: total, start: time.Now()}
	if w == nil || !isTerminal(w) {
		return p
	}
	p.quit, p.exited = make(chan struct{}), make(chan struct{})
	go p.run()
	return p
}

// Write counts bytes read from the blob.
func (p *progress) Write(b []byte) (int, error) {
	p.done.Add(int64(len(b)))
	return len(b), nil
}

// stop ends the bar, leaving its last state on its own line if it was drawn.
func (p *progress) stop() {
	if p.quit == nil {
		return
	}
	close(p.quit)
	<-p.exited
}

func (p *progress) run() {
	defer close(p.exited)
	delay := time.NewTimer(progressDelay)
	defer delay.Stop()
	select {
	case <-p.quit:
		return
	case <-delay.C:
	}
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	for {
		fmt.Fprint(p.w, "\r"+renderBar(p.label, p.done.Load(), p.total, time.Since(p.start)))
		select {
		case <-p.quit:
			fmt.Fprint(p.w, "\r"+renderBar(p.label, p.done.Load(), p.total, time.Since(p.start))+"\n")
			return
		case <-tick.C:
		}
	}
}

// renderBar draws one line: "LABEL [=====>    ]  42%  12.3/29.0 MB  45.6 MB/s", or
// without the bar when the total is unknown.
func renderBar(label string, done, total int64, elapsed time.Duration) string {
	rate := float64(done) / 1e6 / max(elapsed.Seconds(), 1e-9)
	if total <= 0 {
		return fmt.Sprintf("%s %8.1f MB %7.1f MB/s", label, float64(done)/1e6, rate)
	}
	done = min(done, total)
	filled := int(int64(progressWidth) * done / total)
	bar := strings.Repeat("=", filled)
	if filled < progressWidth {
		bar += ">" + strings.Repeat(" ", progressWidth-filled-1)
	}
	return fmt.Sprintf("%s [%s] %3d%% %6.1f/%.1f MB %7.1f MB/s", label, bar, 100*done/total,
		float64(done)/1e6, float64(total)/1e6, rate)
}

// isTerminal reports whether w is a file descriptor of a terminal: only a terminal
// understands the carriage returns that redraw the bar.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
