// Package containerlog owns a detached container's output log: the container's stdout
// and stderr, captured by its supervisor into one file of JSON lines that outlives the
// container until `crate rm`, and read back by `crate logs [-f] [--since T] [--timestamps]`,
// with the control characters of the output escaped for a terminal (escape.go).
// (crate's own structured log is pkg/logging, a different file.)
//
// Each line of the file is one entry, in the spirit of Docker's json-file driver:
//
//	{"time":"2026-11-28T16:05:23.123456789Z","stream":"stdout","log":"hello\n"}
//
// "log" holds the bytes of one line of output including its "\n". A line longer than
// MaxEntry bytes is split over several entries, and only the last one has the "\n"; a
// last line cut off by the end of the stream has none. An entry that would not fit in
// one file of the log (see Limits) is split further. Output that is not valid UTF-8
// goes into "bytes" (base64) instead of "log", because a JSON string would replace the
// invalid bytes with U+FFFD and the output must come back byte for byte.
package containerlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Stream names which of the container's outputs an entry came from.
type Stream string

const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// MaxEntry is the most output bytes one entry holds; a longer line is split so that a
// container printing without newlines cannot make the supervisor buffer without bound.
const MaxEntry = 16 * 1024

// Limits bound what a container's output log takes on disk, as Docker's local logging
// driver does: when the next entry would take the file written to past MaxSize bytes,
// the file is rotated (output.log becomes output.log.1, output.log.1 becomes
// output.log.2, ...) and a new one started; MaxFiles files are kept, the one written to
// included, and the oldest is dropped. With MaxFiles 1 the file starts over empty, as
// Docker's does with max-file=1. The sizes are those of the entries as written, not of
// the output they hold.
type Limits struct {
	MaxSize  int64 `json:"max_size"`
	MaxFiles int   `json:"max_files"`
}

// DefaultLimits are Docker's local driver's: five files of 20 MiB, 100 MiB in all.
var DefaultLimits = Limits{MaxSize: 20 << 20, MaxFiles: 5}

// MinSize is the smallest MaxSize: a file holds a few lines at least, and one entry of
// a single character (about 80 bytes) always fits.
const MinSize = 1 << 10

// fileName is the name of the i-th newest file of the log at path: path itself for the
// file written to, then path.1, path.2, ...
func fileName(path string, i int) string {
	if i == 0 {
		return path
	}
	return path + "." + strconv.Itoa(i)
}

// timeFormat is RFC 3339 with all nine fraction digits kept (time.RFC3339Nano drops
// trailing zeros), so that the times in the file and in `crate logs -t` line up.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// record is one line of the file as JSON.
type record struct {
	Time   string `json:"time"`
	Stream Stream `json:"stream"`
	Log    string `json:"log,omitempty"`   // the output, when it is valid UTF-8
	Bytes  []byte `json:"bytes,omitempty"` // the output, when it is not (base64)
}

// entry is one decoded record.
type entry struct {
	time   time.Time
	stream Stream
	data   []byte
}

// decodeEntry parses one line of the file, without its "\n".
func decodeEntry(line []byte) (entry, error) {
	var r record
	if err := json.Unmarshal(line, &r); err != nil {
		return entry{}, fmt.Errorf("decode entry: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, r.Time)
	if err != nil {
		return entry{}, fmt.Errorf("decode entry time: %w", err)
	}
	if r.Stream != Stdout && r.Stream != Stderr {
		return entry{}, fmt.Errorf("decode entry: unknown stream %q", r.Stream)
	}
	if r.Log != "" && r.Bytes != nil {
		return entry{}, errors.New(`decode entry: both "log" and "bytes"`)
	}
	data := r.Bytes
	if data == nil {
		data = []byte(r.Log)
	}
	return entry{time: t, stream: r.Stream, data: data}, nil
}
