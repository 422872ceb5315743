package containerlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/crate-run/crate/pkg/filewatch"
)

// Options choose what Show prints.
type Options struct {
	Since      time.Time // lines read before it are left out; zero: all
	Timestamps bool      // prefix each line with its time (RFC 3339, nanoseconds) and a space, as `docker logs -t`
	Follow     bool      // keep printing new entries until done is closed (see Show)
	// Escape names the streams whose writer is a terminal: their control
	// characters are written out visibly, not acted on (see escape.go).
	Escape map[Stream]bool
}

// Show writes the output in the log at path to stdout or stderr, by the stream it came from.
//
// With o.Follow it then waits for new entries (inotify, no polling) and prints them as they
// come, until done is closed: then it prints what is left up to the end of the file and
// returns. The supervisor closes done once both Copy calls have returned, so everything the
// container wrote is printed. Show also returns, with nil, when ctx is done.
//
// A last line without its "\n" is an append in progress: Show waits for the rest when it
// follows, and leaves it out otherwise. A line that is not an entry is skipped, and Show
// returns an error with their count once it has printed everything else.
func Show(ctx context.Context, path string, stdout, stderr io.Writer, o Options, done <-chan struct{}) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open container log: %w", err)
	}
	defer file.Close()

	var watch *filewatch.Watch
	waitCtx, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()
	if o.Follow {
		// Watch before the first read, so that an entry appended after any read leaves an
		// event behind and none slips in between reading and waiting.
		watch, err = filewatch.Modify(waitCtx, path)
		if err != nil {
			return err
		}
		defer watch.Close()
		// Closing done wakes the wait the same way cancelling ctx does.
		go func() {
			select {
			case <-done:
				stopWaiting()
			case <-waitCtx.Done():
			}
		}()
	}

	p := &printer{out: map[Stream]io.Writer{Stdout: stdout, Stderr: stderr}, opts: o}
	lines := &lineReader{r: bufio.NewReader(file)}
	for {
		if err := lines.printAll(p); err != nil {
			return fmt.Errorf("read container log %s: %w", path, err)
		}
		if !o.Follow {
			return p.finish(path)
		}
		err := watch.Wait(waitCtx)
		switch {
		case ctx.Err() != nil:
			return p.finish(path)
		case waitCtx.Err() != nil: // done is closed: nothing more is coming
			if err := lines.printAll(p); err != nil {
				return fmt.Errorf("read container log %s: %w", path, err)
			}
			return p.finish(path)
		case err != nil:
			return err
		}
	}
}

// lineReader reads whole lines from a file that is being appended to.
type lineReader struct {
	r       *bufio.Reader
	partial []byte // the start of a line whose "\n" has not been written yet
}

// next returns the next whole line without its "\n", or ok false at the end of the file.
// A line without its "\n" is kept, and completed by what a later call reads.
func (l *lineReader) next() (line []byte, ok bool, err error) {
	chunk, err := l.r.ReadBytes('\n')
	l.partial = append(l.partial, chunk...)
	if err != nil {
		if errors.Is(err, io.EOF) {
			// bufio.Reader reports EOF once and reads the file again on the next call,
			// which is what lets a follower pick up appended entries.
			return nil, false, nil
		}
		return nil, false, err
	}
	line = bytes.Clone(l.partial[:len(l.partial)-1])
	l.partial = l.partial[:0]
	return line, true, nil
}

// printAll prints every whole line up to the end of the file.
func (l *lineReader) printAll(p *printer) error {
	for {
		line, ok, err := l.next()
		if err != nil || !ok {
			return err
		}
		if err := p.print(line); err != nil {
			return err
		}
	}
}

// printer writes entries to the writer for their stream and counts the corrupt ones.
type printer struct {
	out     map[Stream]io.Writer
	opts    Options
	lines   map[Stream]*lineState
	corrupt int
}

// lineState tracks one stream across entries: a line split into several entries is one
// line for Since and Timestamps, decided by its first entry.
type lineState struct {
	midLine  bool   // the last entry did not end with "\n"
	skipping bool   // the line under way is before Since
	held     []byte // the end of the last entry, for escapeControls to see with what follows
}

func (p *printer) print(raw []byte) error {
	e, err := decodeEntry(raw)
	if err != nil {
		p.corrupt++
		return nil
	}
	if p.lines == nil {
		p.lines = make(map[Stream]*lineState)
	}
	s := p.lines[e.stream]
	if s == nil {
		s = &lineState{}
		p.lines[e.stream] = s
	}
	startsLine := !s.midLine
	if startsLine {
		s.skipping = !p.opts.Since.IsZero() && e.time.Before(p.opts.Since)
	}
	s.midLine = !bytes.HasSuffix(e.data, []byte("\n"))
	if s.skipping {
		return nil
	}
	var out []byte
	if p.opts.Timestamps && startsLine {
		out = []byte(e.time.UTC().Format(timeFormat) + " ")
	}
	if p.opts.Escape[e.stream] {
		// An entry may end inside a line split over entries, mid-character
		// or mid-sequence: that end waits for the next entry of the stream.
		data := append(s.held, e.data...)
		var n int
		out, n = escapeControls(out, data, true)
		s.held = append([]byte(nil), data[n:]...)
	} else {
		out = append(out, e.data...)
	}
	return p.write(e.stream, out)
}

func (p *printer) write(stream Stream, b []byte) error {
	if _, err := p.out[stream].Write(b); err != nil {
		return fmt.Errorf("write container %s: %w", stream, err)
	}
	return nil
}

// finish prints what escapeControls held back at the end of the output,
// and reports the corrupt lines, after everything else has been printed.
func (p *printer) finish(path string) error {
	for _, stream := range []Stream{Stdout, Stderr} {
		if s := p.lines[stream]; s != nil && len(s.held) > 0 {
			out, _ := escapeControls(nil, s.held, false)
			s.held = nil
			if err := p.write(stream, out); err != nil {
				return err
			}
		}
	}
	if p.corrupt > 0 {
		return fmt.Errorf("read container log %s: skipped %d corrupt lines", path, p.corrupt)
	}
	return nil
}
