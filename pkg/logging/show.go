package logging

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/crate-run/crate/pkg/filewatch"
	"github.com/hashicorp/go-hclog"
)

// Filter selects log entries for `crate log`. Zero values mean no filter.
type Filter struct {
	Container string      // container_id equal to this or starting with it (an id prefix)
	Level     hclog.Level // entries at this level or above
	Since     time.Time   // entries at or after this time
}

// Show prints the entries of the JSON log file at path that match f: readable text lines
// ("2026-11-28T11:15:19.123Z [INFO]  crate: container started: container_id=abc pid=123",
// times in UTC) or, with asJSON, the original JSON lines unchanged. With follow it keeps
// printing lines as they are appended until ctx is done, and then returns nil.
// Malformed lines are skipped; in text mode a last line says how many.
func Show(ctx context.Context, w io.Writer, path string, f Filter, asJSON, follow bool) error {
	file, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no crate log at %s yet", path)
		}
		return fmt.Errorf("open crate log: %w", err)
	}
	defer file.Close()

	var watch *filewatch.Watch
	if follow {
		// Watch before the first read: then a line appended after any read always
		// leaves an event behind, and none can slip between reading and waiting.
		watch, err = filewatch.Modify(ctx, path)
		if err != nil {
			return err
		}
		defer watch.Close()
	}

	p := &printer{w: w, filter: f, asJSON: asJSON}
	r := bufio.NewReader(file)
	var partial []byte // a line whose newline has not been written yet
	for {
		chunk, err := r.ReadBytes('\n')
		partial = append(partial, chunk...)
		if err == nil {
			if err := p.line(partial); err != nil {
				return err
			}
			partial = partial[:0]
			if follow && ctx.Err() != nil {
				return p.finish(path)
			}
			continue
		}
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if !follow {
			// Without a newline the last line may be cut short; p.line skips it if so.
			if err := p.line(partial); err != nil {
				return err
			}
			return p.finish(path)
		}
		if err := watch.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return p.finish(path)
			}
			return err
		}
	}
}

// printer writes the matching entries and counts the malformed ones.
type printer struct {
	w         io.Writer
	filter    Filter
	asJSON    bool
	malformed int
}

func (p *printer) line(raw []byte) error {
	body := trimNewline(raw)
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	e, err := parseEntry(body)
	if err != nil {
		p.malformed++
		return nil
	}
	if !e.matches(p.filter) {
		return nil
	}
	var out string
	if p.asJSON {
		out = string(body) + "\n"
	} else {
		out = e.text() + "\n"
	}
	if _, err := io.WriteString(p.w, out); err != nil {
		return fmt.Errorf("write log entry: %w", err)
	}
	return nil
}

// finish reports skipped lines. JSON output stays pure JSON lines, so only text gets the note.
func (p *printer) finish(path string) error {
	if p.malformed == 0 || p.asJSON {
		return nil
	}
	if _, err := fmt.Fprintf(p.w, "crate log: skipped %d malformed lines in %s\n", p.malformed, path); err != nil {
		return fmt.Errorf("write log entry: %w", err)
	}
	return nil
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// entry is one hclog JSON line from the log file.
type entry struct {
	time    time.Time
	level   hclog.Level
	module  string
	message string
	fields  map[string]any // everything except the @ keys above
}

func parseEntry(raw []byte) (entry, error) {
	fields, err := decodeObject(raw)
	if err != nil {
		return entry{}, err
	}
	// hclog writes TimeFormatJSON (microseconds); RFC3339Nano parses any fraction.
	t, err := time.Parse(time.RFC3339Nano, stringField(fields, keyTimestamp))
	if err != nil {
		return entry{}, fmt.Errorf("parse %s: %w", keyTimestamp, err)
	}
	level, err := ParseLevel(stringField(fields, keyLevel))
	if err != nil {
		return entry{}, err
	}
	e := entry{
		time:    t,
		level:   level,
		module:  stringField(fields, keyModule),
		message: stringField(fields, keyMessage),
	}
	for _, k := range []string{keyTimestamp, keyLevel, keyModule, keyMessage} {
		delete(fields, k)
	}
	e.fields = fields
	return e, nil
}

func (e entry) matches(f Filter) bool {
	if e.level < f.Level {
		return false
	}
	if !f.Since.IsZero() && e.time.Before(f.Since) {
		return false
	}
	if f.Container != "" {
		id, _ := e.fields["container_id"].(string)
		if !strings.HasPrefix(id, f.Container) {
			return false
		}
	}
	return true
}

// levelBrackets match hclog's text output, padded to the same width.
var levelBrackets = map[hclog.Level]string{
	hclog.Trace: "[TRACE]",
	hclog.Debug: "[DEBUG]",
	hclog.Info:  "[INFO] ",
	hclog.Warn:  "[WARN] ",
	hclog.Error: "[ERROR]",
}

// text renders the entry the way hclog's text format would have, on one line.
func (e entry) text() string {
	var b strings.Builder
	b.WriteString(e.time.UTC().Format(textTimeFormat))
	b.WriteByte(' ')
	b.WriteString(levelBrackets[e.level])
	b.WriteByte(' ')
	if e.module != "" {
		b.WriteString(e.module)
		b.WriteString(": ")
	}
	b.WriteString(e.message)
	if len(e.fields) > 0 {
		b.WriteByte(':')
		keys := make([]string, 0, len(e.fields))
		for k := range e.fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteByte(' ')
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(formatValue(e.fields[k]))
		}
	}
	return b.String()
}

func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		if needsQuoting(v) {
			return strconv.Quote(v)
		}
		return v
	case json.Number:
		return v.String()
	default: // bool, null, objects, arrays: compact JSON reads fine
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}

// needsQuoting keeps key=value pairs unambiguous and each entry on one line.
func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '"' || r == '=' || !unicode.IsPrint(r)
	})
}

// ParseSince parses a --since value: a duration such as "10m", "2h" or "1h30m" (that long
// before now) or an RFC 3339 time such as "2026-11-28T11:15:19Z". "" means no limit.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("parse since %q: duration must not be negative", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse since %q: want a duration like 10m or 1h30m, or an RFC 3339 time like 2026-11-28T11:15:19Z", s)
	}
	return t, nil
}
