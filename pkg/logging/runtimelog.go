package logging

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// An engine that drives crate as its OCI runtime names a file with --log and
// reads it back: containerd's shim shows its user the message of the last
// line at level "error" when a runtime command fails. The lines are runc's:
// with --log-format json one object per line, {"level", "msg", "time"} and
// the key/value pairs; with text, logfmt's time="..." level=... msg="...".

// runtimeSink writes hclog entries as runc's log lines.
type runtimeSink struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	level hclog.Level
}

// NewRuntimeSink returns a sink writing the entries at level and above to w,
// in runc's json or text form.
func NewRuntimeSink(w io.Writer, format string, level hclog.Level) (hclog.SinkAdapter, error) {
	asJSON, err := parseFormat(format)
	if err != nil {
		return nil, err
	}
	return &runtimeSink{w: w, json: asJSON, level: level}, nil
}

// runtimeLevels are runc's (logrus's) names of the levels.
var runtimeLevels = map[hclog.Level]string{
	hclog.Trace: "trace", hclog.Debug: "debug", hclog.Info: "info", hclog.Warn: "warning", hclog.Error: "error",
}

func (s *runtimeSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	if level < s.level || level == hclog.Off {
		return
	}
	now := time.Now().UTC().Format(time.RFC3339)
	lvl := runtimeLevels[level]
	var line []byte
	if s.json {
		entry := map[string]any{"level": lvl, "msg": msg, "time": now}
		for i := 0; i+1 < len(args); i += 2 {
			key := fmt.Sprint(args[i])
			if _, taken := entry[key]; !taken {
				entry[key] = value(args[i+1])
			}
		}
		line, _ = json.Marshal(entry)
	} else {
		var b strings.Builder
		fmt.Fprintf(&b, "time=%q level=%s msg=%s", now, lvl, strconv.Quote(msg))
		for i := 0; i+1 < len(args); i += 2 {
			fmt.Fprintf(&b, " %s=%s", args[i], strconv.Quote(fmt.Sprint(value(args[i+1]))))
		}
		line = []byte(b.String())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.Write(append(line, '\n'))
}

// value is what a line shows of v: errors as their text.
func value(v any) any {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	return v
}
