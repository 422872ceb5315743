// Package logging sets up crate's hclog loggers (stderr and the JSON log file), re-emits
// crate-init's log lines, and reads the log file back for `crate log`.
//
// One root logger named "crate" feeds two outputs: human text (or JSON) on stderr at the
// level the user asked for, and JSON lines at debug level appended to the log file, so
// `crate log` can show detail afterwards that was too noisy for the terminal.
package logging

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// DefaultFile is where crate keeps its log unless told otherwise (the --log-file default).
const DefaultFile = "/var/log/crate/crate.log"

// textTimeFormat is used for stderr text and for `crate log`: hclog's default text format,
// but with a colon in the zone so that UTC prints as "Z" like RFC 3339.
const textTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Options configure the root logger.
type Options struct {
	Level  string    // stderr level: trace|debug|info|warn|error (default "warn")
	Format string    // "text" or "json" (stderr); "" means text
	File   string    // JSON lines appended at debug level, usually DefaultFile; "" = no file
	Stderr io.Writer // default os.Stderr
	// Runtime, if set, is a file that gets runc's log lines (see
	// NewRuntimeSink) in Format, at RuntimeLevel and above: the runtime
	// commands' --log, which engines read.
	Runtime      string
	RuntimeLevel hclog.Level
}

// New returns the root logger (name "crate") and a func that closes the log file.
// Stderr gets text (or JSON lines with Format "json") at Level; the file always gets JSON
// lines at debug level. The file is opened for append with mode 0600 and its directory is
// created with mode 0700: logs carry container commands and environment details.
func New(o Options) (hclog.Logger, func() error, error) {
	level := hclog.Warn
	if o.Level != "" {
		l, err := ParseLevel(o.Level)
		if err != nil {
			return nil, nil, err
		}
		level = l
	}
	jsonStderr, err := parseFormat(o.Format)
	if err != nil {
		return nil, nil, err
	}
	stderr := o.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}

	opts := &hclog.LoggerOptions{
		Name:       "crate",
		Level:      level,
		Output:     stderr,
		JSONFormat: jsonStderr,
	}
	if !jsonStderr {
		opts.TimeFormat = textTimeFormat
	}
	// An intercept logger passes every entry to its sinks whatever its own level is,
	// so the stderr level does not limit what reaches the file. Named and With
	// sub-loggers keep feeding the same sinks.
	log := hclog.NewInterceptLogger(opts)

	var closeRuntime func() error
	if o.Runtime != "" {
		f, err := openLogFile(o.Runtime)
		if err != nil {
			return nil, nil, fmt.Errorf("set up --log: %w", err)
		}
		sink, err := NewRuntimeSink(f, o.Format, o.RuntimeLevel)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		log.RegisterSink(sink)
		closeRuntime = f.Close
	}
	if o.File == "" {
		return log, func() error {
			if closeRuntime != nil {
				return closeRuntime()
			}
			return nil
		}, nil
	}
	file, err := openLogFile(o.File)
	if err != nil {
		if closeRuntime != nil {
			closeRuntime()
		}
		return nil, nil, fmt.Errorf("set up log file (use --log-file to choose another path): %w", err)
	}
	// hclog buffers each entry and writes it with one write(2); with O_APPEND this keeps
	// lines whole when several crate processes share the file.
	sink := hclog.NewSinkAdapter(&hclog.LoggerOptions{
		Level:      hclog.Debug,
		Output:     file,
		JSONFormat: true,
	})
	log.RegisterSink(sink)
	closeFile := func() error {
		log.DeregisterSink(sink)
		if closeRuntime != nil {
			closeRuntime()
		}
		if err := file.Close(); err != nil {
			return fmt.Errorf("close log file: %w", err)
		}
		return nil
	}
	return log, closeFile, nil
}

func openLogFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err // *PathError: already names mkdir and the path
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
}

// ParseLevel turns a level name (trace, debug, info, warn, error; any case) into an
// hclog.Level. Unlike hclog.LevelFromString it rejects anything else, such as "off".
func ParseLevel(s string) (hclog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace":
		return hclog.Trace, nil
	case "debug":
		return hclog.Debug, nil
	case "info":
		return hclog.Info, nil
	case "warn":
		return hclog.Warn, nil
	case "error":
		return hclog.Error, nil
	}
	return hclog.NoLevel, fmt.Errorf("unknown log level %q: want trace, debug, info, warn or error", s)
}

// parseFormat reports whether stderr should get JSON.
func parseFormat(s string) (bool, error) {
	switch s {
	case "", "text":
		return false, nil
	case "json":
		return true, nil
	}
	return false, fmt.Errorf("unknown log format %q: want text or json", s)
}
