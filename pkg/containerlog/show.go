package containerlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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

// Show writes the output in the log at path to stdout or stderr, by the stream it came
// from: the log's rotated files first, oldest first, up to maxFiles files in all (see
// Limits; fewer than 1, from a container of before the rotation, is 1).
//
// With o.Follow it then waits for new entries (inotify, no polling) and prints them as they
// come, across rotations, until done is closed: then it prints what is left up to the end
// of the log and returns. The supervisor closes done once both Copy calls have returned, so
// everything the container wrote is printed. Show also returns, with nil, when ctx is done.
// A follower that falls so far behind that the file it reads is dropped still reads that
// file to its end, then goes on with the oldest file kept.
//
// A last line without its "\n" is an append in progress: Show waits for the rest when it
// follows, and leaves it out otherwise. A line that is not an entry, or one cut short at
// the end of a rotated file, is skipped, and Show returns an error with their count once
// it has printed everything else.
func Show(ctx context.Context, path string, maxFiles int, stdout, stderr io.Writer, o Options, done <-chan struct{}) error {
	var watch *filewatch.Watch
	waitCtx, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()
	if o.Follow {
		// Watch before the first read, so that an entry appended after any read leaves an
		// event behind and none slips in between reading and waiting. The directory, not
		// the file: a rotation brings a new file.
		var err error
		watch, err = filewatch.Dir(waitCtx, filepath.Dir(path))
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

	files, err := openFiles(path, max(maxFiles, 1))
	if err != nil {
		return fmt.Errorf("open container log: %w", err)
	}
	if len(files) == 0 {
		return fmt.Errorf("open container log: %w", &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist})
	}
	p := &printer{out: map[Stream]io.Writer{Stdout: stdout, Stderr: stderr}, opts: o}
	log := &logReader{path: path, maxFiles: max(maxFiles, 1), follow: o.Follow, files: files}
	log.lines.r = bufio.NewReader(files[0])
	defer log.close()
	for {
		if err := log.printAll(p); err != nil {
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
			if err := log.printAll(p); err != nil {
				return fmt.Errorf("read container log %s: %w", path, err)
			}
			return p.finish(path)
		case err != nil:
			return err
		}
	}
}

// logReader reads the files of a log in turn, oldest first. Following, it goes on to the
// newer files once the newest it has is rotated.
type logReader struct {
	path     string
	maxFiles int
	follow   bool
	files    []*os.File // still to read, oldest first; files[0] is being read
	lines    lineReader // of files[0]
}

// printAll prints every whole line up to the end of the log.
func (l *logReader) printAll(p *printer) error {
	for {
		if err := l.lines.printAll(p); err != nil {
			return err
		}
		if len(l.files) == 1 {
			if !l.follow {
				return nil
			}
			newer, err := l.newer()
			if err != nil || len(newer) == 0 {
				return err
			}
			// files[0] was rotated, so its last entry has been written: the loop
			// reads it to its end before going on.
			l.files = append(l.files, newer...)
			continue
		}
		if len(l.lines.partial) > 0 {
			p.corrupt++ // an entry cut short in a file that is written no more
		}
		l.files[0].Close()
		l.files = l.files[1:]
		l.lines = lineReader{r: bufio.NewReader(l.files[0])}
	}
}

// newer opens the files newer than the one being read, once it has been rotated; none
// while it is still the one written to.
func (l *logReader) newer() ([]*os.File, error) {
	cur, err := l.files[0].Stat()
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(l.path); err == nil && os.SameFile(fi, cur) {
		return nil, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	files, err := openFiles(l.path, l.maxFiles)
	if err != nil {
		return nil, err
	}
	for i, f := range files {
		if fi, err := f.Stat(); err == nil && os.SameFile(fi, cur) {
			closeAll(files[:i+1])
			return files[i+1:], nil
		}
	}
	return files, nil // the file being read was dropped: all that is kept is newer
}

func (l *logReader) close() { closeAll(l.files) }

// openFiles opens the files of the log at path that exist, as they were at one moment,
// oldest first. It takes no lock (see Writer.rotate): it opens them from the newest on,
// which finds a file being rotated under two names at worst, kept once, never misses one;
// and if output.log is replaced meanwhile, a rotation has ended in between, which can mix
// older and newer files, so it opens them again.
func openFiles(path string, maxFiles int) ([]*os.File, error) {
	for {
		var files []*os.File // newest first
		var last, first os.FileInfo
		for i := range maxFiles {
			f, err := os.Open(fileName(path, i))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			var fi os.FileInfo
			if err == nil {
				fi, err = f.Stat()
				if err != nil {
					f.Close()
				}
			}
			if err != nil {
				closeAll(files)
				return nil, err
			}
			if last != nil && os.SameFile(fi, last) {
				f.Close()
				continue
			}
			if i == 0 {
				first = fi
			}
			files, last = append(files, f), fi
		}
		now, err := os.Stat(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			closeAll(files)
			return nil, err
		}
		if (first == nil) == (now == nil) && (first == nil || os.SameFile(first, now)) {
			slices.Reverse(files)
			return files, nil
		}
		closeAll(files)
	}
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
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
