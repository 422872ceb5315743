// Package initlog is crate-init's logger: one JSON object per line on the
// log pipe, in hclog's JSON shape (@level, @message, then the key/value
// pairs), which the supervisor reads back and logs through its own hclog
// logger (logging.ReEmit), so that init's lines land in crate's log with the
// container's id.
//
// crate-init does not use hclog itself: its package initialisation, and its
// terminal-colour dependencies, cost every container's start about 0.2 ms
// for the handful of lines init writes before it execs the command.
package initlog

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Level is how much a line matters; a logger writes its level and above.
type Level int

const (
	Trace Level = iota
	Debug
	Info
	Warn
	Error
)

var levelNames = []string{"trace", "debug", "info", "warn", "error"}

func (l Level) String() string { return levelNames[l] }

// ParseLevel reads a level's name, in any case.
func ParseLevel(s string) (Level, error) {
	for i, name := range levelNames {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return Level(i), nil
		}
	}
	return 0, fmt.Errorf("unknown log level %q: want trace, debug, info, warn or error", s)
}

// Logger writes lines at its level and above to w; a nil *Logger writes
// nothing.
type Logger struct {
	w     io.Writer
	level Level
}

// New returns a logger writing to w.
func New(w io.Writer, level Level) *Logger { return &Logger{w: w, level: level} }

func (l *Logger) Trace(msg string, kv ...any) { l.log(Trace, msg, kv) }
func (l *Logger) Debug(msg string, kv ...any) { l.log(Debug, msg, kv) }
func (l *Logger) Info(msg string, kv ...any)  { l.log(Info, msg, kv) }
func (l *Logger) Warn(msg string, kv ...any)  { l.log(Warn, msg, kv) }
func (l *Logger) Error(msg string, kv ...any) { l.log(Error, msg, kv) }

// Silence stops l from writing anything more: its reader is gone.
func (l *Logger) Silence() {
	if l != nil {
		l.level = Error + 1
	}
}

// log writes one line, in one write(2), so lines never interleave.
func (l *Logger) log(level Level, msg string, kv []any) {
	if l == nil || level < l.level {
		return
	}
	entry := map[string]any{"@level": level.String(), "@message": msg}
	for i := 0; i < len(kv); i += 2 {
		key := fmt.Sprint(kv[i])
		if i+1 == len(kv) {
			entry["EXTRA_VALUE_AT_END"] = kv[i] // as hclog does with an odd count
			break
		}
		entry[key] = value(kv[i+1])
	}
	line, err := json.Marshal(entry)
	if err != nil {
		line, _ = json.Marshal(map[string]any{"@level": level.String(), "@message": msg, "log_error": err.Error()})
	}
	l.w.Write(append(line, '\n'))
}

// value is what JSON shows of v: errors and Stringers as their text, as
// hclog writes them.
func value(v any) any {
	switch v := v.(type) {
	case error:
		return v.Error()
	case fmt.Stringer:
		return v.String()
	}
	return v
}
