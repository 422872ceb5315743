package containerlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Writer appends entries to a container's output log. It is safe for concurrent use:
// the supervisor runs one Copy for stdout and one for stderr.
type Writer struct {
	path string
	mu   sync.Mutex // one entry is one write, never interleaved with another
	f    *os.File
}

// Create opens the log at path for appending, creating it if needed. Appending, not
// truncating: a log that already holds output keeps it.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create container log: %w", err)
	}
	return &Writer{path: path, f: f}, nil
}

// Copy reads r to its end and appends its output as entries of the given stream, one per
// line (see the package doc). It returns nil at EOF, and also on EIO: that is what a pty
// master returns once the last process holding the slave side has exited.
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
			if werr := w.append(enc, stream, time.Now(), line); werr != nil {
				return werr
			}
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

// append writes one entry holding data, read at time at.
func (w *Writer) append(e *encoder, stream Stream, at time.Time, data []byte) error {
	r := record{Time: at.UTC().Format(timeFormat), Stream: stream}
	if utf8.Valid(data) {
		r.Log = string(data)
	} else {
		r.Bytes = data
	}
	e.buf.Reset()
	if err := e.enc.Encode(r); err != nil { // Encode ends the line with "\n"
		return fmt.Errorf("encode %s entry: %w", stream, err)
	}
	// One write per entry under the lock: with O_APPEND a reader never sees two
	// entries mixed, only at worst the first part of the last one.
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.f.Write(e.buf.Bytes()); err != nil {
		return fmt.Errorf("append to container log %s: %w", w.path, err)
	}
	return nil
}
