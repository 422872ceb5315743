package logging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sort"

	"github.com/hashicorp/go-hclog"
)

// Keys that hclog's JSON format adds to every entry. The parent writes its own.
const (
	keyTimestamp = "@timestamp"
	keyLevel     = "@level"
	keyMessage   = "@message"
	keyModule    = "@module"
	keyCaller    = "@caller"
)

// ReEmit reads hclog JSON lines written by a child (crate-init writes them to a pipe)
// from r until EOF and logs each through log; the caller passes log.Named("init").
// Level, message and key/value fields are kept; the child's timestamp, module and caller
// are dropped, since the parent stamps its own. A line that is not an hclog entry (say,
// a panic message) is logged at info as "output" with the text in "line".
func ReEmit(log hclog.Logger, r io.Reader) {
	// bufio.Reader rather than Scanner: a long line must not stop the relay.
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		reEmitLine(log, line)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				log.Warn("stop reading child log", "error", err)
			}
			return
		}
	}
}

func reEmitLine(log hclog.Logger, line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	fields, err := decodeObject(line)
	msg, isEntry := fields[keyMessage].(string)
	if err != nil || !isEntry {
		log.Info("output", "line", string(line))
		return
	}
	level := hclog.LevelFromString(stringField(fields, keyLevel))
	if level == hclog.NoLevel || level == hclog.Off {
		level = hclog.Info
	}
	for _, k := range []string{keyTimestamp, keyLevel, keyMessage, keyModule, keyCaller} {
		delete(fields, k)
	}
	log.Log(level, msg, sortedArgs(fields)...)
}

// sortedArgs flattens fields into hclog's key, value, key, value... in key order, so the
// re-emitted text line is stable.
func sortedArgs(fields map[string]any) []any {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k, fields[k])
	}
	return args
}

// decodeObject parses one JSON object. Numbers stay json.Number so that an id or a pid
// is written back exactly (not as a float64).
func decodeObject(line []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil {
		return nil, err
	}
	if fields == nil { // the line was "null"
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after JSON object")
	}
	return fields, nil
}

func stringField(fields map[string]any, key string) string {
	s, _ := fields[key].(string)
	return s
}
