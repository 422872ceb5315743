package containerlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Writer appends entries to a container's output log. It is safe for concurrent use:
// the supervisor runs one Copy for stdout and one for stderr.
//
// A write that fails (a full disk, an I/O error) ends the log: what it wrote of its entry
// is cut off again, so that the file ends with a whole entry, and every later entry is
// dropped, while Copy reads on. A log that ends, with the reason told, says what
// happened; one with holes would read as though the container had been silent there, and
// a reader following it may already be past the bytes that were cut off.
type Writer struct {
	path   string
	limits Limits
	lost   func(error) // told once why the log takes no more output; may be nil

	mu   sync.Mutex // one entry is one write, never interleaved with another
	f    file
	size int64 // f's size: where a failed write is cut back to, and what Limits bound
	err  error // why the log takes no more output; nil while it does
}

// file is what a Writer needs of its log file; tests stand a failing one in.
type file interface {
	Write([]byte) (int, error)
	Truncate(size int64) error
	Close() error
}

// Create opens the log at path for appending, creating it if needed. Appending, not
// truncating: a log that already holds output keeps it. The log is kept within limits.
// lost, if not nil, is told once why output is being dropped (see Writer), from the
// goroutine of a Copy, which waits for it to return.
func Create(path string, limits Limits, lost func(error)) (*Writer, error) {
	if limits.MaxSize < MinSize || limits.MaxFiles < 1 {
		return nil, fmt.Errorf("create container log: limits of %d files of %d bytes: want 1 file at least, of %d bytes at least",
			limits.MaxFiles, limits.MaxSize, MinSize)
	}
	f, err := openAppend(path, 0)
	if err != nil {
		return nil, fmt.Errorf("create container log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("create container log: %w", err)
	}
	w := newWriter(path, f, limits, lost)
	w.size = fi.Size()
	return w, nil
}

func newWriter(path string, f file, limits Limits, lost func(error)) *Writer {
	return &Writer{path: path, f: f, limits: limits, lost: lost}
}

// openAppend opens a file of the log for appending, creating it if needed.
func openAppend(name string, flags int) (*os.File, error) {
	return os.OpenFile(name, os.O_CREATE|os.O_APPEND|os.O_WRONLY|flags, 0o640)
}

// Copy reads r to its end and appends its output as entries of the given stream, one per
// line (see the package doc). It returns nil at EOF, and also on EIO: that is what a pty
// master returns once the last process holding the slave side has exited. Output the log
// does not take (see Writer) is read all the same, so the writer of r never blocks on it.
//
// A line is written when its "\n" arrives, when MaxEntry bytes are pending, or when r
// ends; output without a newline (a prompt, say) waits in the buffer until one of these.
func (w *Writer) Copy(stream Stream, r io.Reader) error {
	if stream != Stdout && stream != Stderr {
		return fmt.Errorf("copy container output: unknown stream %q", stream)
	}
	// A buffer of MaxEntry makes ReadSlice do the splitting: it returns ErrBufferFull
	// with a full buffer when no "\n" comes within MaxEntry bytes.
	br := bufio.NewReaderSize(r, MaxEntry)
	enc := newEncoder()
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			w.append(enc, stream, time.Now(), line)
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF), errors.Is(err, syscall.EIO):
			return nil
		default:
			return fmt.Errorf("read container %s: %w", stream, err)
		}
	}
}

// Lost returns why the log takes no more output, or nil while it does.
func (w *Writer) Lost() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close closes the log file. Call it after every Copy has returned.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close container log %s: %w", w.path, err)
	}
	return nil
}

// encoder turns output into one JSON line; each Copy has its own, so encoding needs no lock.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func newEncoder() *encoder {
	e := &encoder{}
	e.enc = json.NewEncoder(&e.buf)
	// Output often holds <, > and &; escaping them for HTML would only make the file
	// harder to read.
	e.enc.SetEscapeHTML(false)
	return e
}

// encode returns the JSON line of one entry holding data, read at time at. The line is
// the encoder's until its next call.
func (e *encoder) encode(stream Stream, at time.Time, data []byte) ([]byte, error) {
	r := record{Time: at.UTC().Format(timeFormat), Stream: stream}
	if utf8.Valid(data) {
		r.Log = string(data)
	} else {
		r.Bytes = data
	}
	e.buf.Reset()
	if err := e.enc.Encode(r); err != nil { // Encode ends the line with "\n"
		return nil, fmt.Errorf("encode %s entry: %w", stream, err)
	}
	return e.buf.Bytes(), nil
}

// append writes one entry holding data, read at time at, unless the log has ended.
func (w *Writer) append(e *encoder, stream Stream, at time.Time, data []byte) {
	line, err := e.encode(stream, at, data)
	if err == nil && int64(len(line)) > w.limits.MaxSize && len(data) > 1 {
		// A file holds whole entries only: one larger than a file would take the
		// log past its limits.
		n := half(data)
		w.append(e, stream, at, data[:n])
		w.append(e, stream, at, data[n:])
		return
	}
	// One write per entry under the lock: with O_APPEND a reader never sees two
	// entries mixed, only at worst the first part of the last one.
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	if err != nil {
		w.end(err)
		return
	}
	if w.size > 0 && w.size+int64(len(line)) > w.limits.MaxSize {
		if err := w.rotate(); err != nil {
			w.end(fmt.Errorf("rotate container log: %w", err)) // err names the file
			return
		}
	}
	n, err := w.f.Write(line)
	w.size += int64(n)
	if err == nil {
		return
	}
	err = fmt.Errorf("append to container log: %w", err) // err names the file
	if n > 0 {
		// The rest of the entry will never come: cut what was written back off, so
		// that no reader takes the start of an entry for the whole.
		if terr := w.f.Truncate(w.size - int64(n)); terr != nil {
			err = fmt.Errorf("%w; cutting off the part written: %w", err, terr)
		} else {
			w.size -= int64(n)
		}
	}
	w.end(err)
}

// end records why the log takes no more output, and tells it. w.mu is held.
func (w *Writer) end(err error) {
	w.err = err
	if w.lost != nil {
		w.lost(err)
	}
}

// half is where to split data, whose entry does not fit in a file: about half way, and
// at the start of a character if data is text, so that both halves stay text.
func half(data []byte) int {
	n := len(data) / 2
	if utf8.Valid(data) {
		for n > 0 && !utf8.RuneStart(data[n]) {
			n--
		}
	}
	if n == 0 {
		n = len(data) / 2
	}
	return n
}

// rotate starts a new file for the log, keeping MaxFiles in all. w.mu is held.
//
// Readers take no lock (see Show), so that no reader can ever hold up the container's
// output; instead every step leaves files a reader can take in order. The new file is
// made first, under another name, so that a failure there changes nothing. The old
// files move up one, the oldest first, which drops the oldest of all. The file written
// to gets its second name, output.log.1, by a hard link, and last the new file takes
// the name output.log in one rename. A reader that opens the files from the newest on
// may find one file under two names, but never misses one. With MaxFiles 1 only the
// first and the last step are left: the log starts over.
func (w *Writer) rotate() error {
	next := w.path + ".new"
	f, err := openAppend(next, os.O_TRUNC) // a crash may have left one behind
	if err != nil {
		return err
	}
	if err := w.shift(); err != nil {
		f.Close()
		os.Remove(next)
		return err
	}
	if err := os.Rename(next, w.path); err != nil {
		f.Close()
		os.Remove(next)
		return err
	}
	old := w.f
	w.f, w.size = f, 0
	return old.Close()
}

// shift moves the files of the log up one and links the file written to as
// output.log.1 (see rotate).
func (w *Writer) shift() error {
	if w.limits.MaxFiles < 2 {
		return nil
	}
	for i := w.limits.MaxFiles - 1; i >= 2; i-- {
		err := os.Rename(fileName(w.path, i-1), fileName(w.path, i))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	// With two files, output.log.1 is the oldest, dropped here; with more, it has
	// just moved up.
	if err := os.Remove(fileName(w.path, 1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Link(w.path, fileName(w.path, 1))
}
