package logging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/crate-run/crate/pkg/initlog"
	"github.com/hashicorp/go-hclog"
)

// jsonLines decodes every line of b as a JSON object, numbers kept as json.Number.
func jsonLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		m, err := decodeObject(sc.Bytes())
		if err != nil {
			t.Fatalf("line %q is not a JSON object: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestNew(t *testing.T) {
	tests := []struct {
		name       string
		level      string
		format     string
		wantStderr []string // levels seen on stderr, in order
	}{
		{name: "default is text at warn", wantStderr: []string{"warn", "error"}},
		{name: "text at info", level: "info", format: "text", wantStderr: []string{"info", "warn", "error"}},
		{name: "json at warn", level: "WARN", format: "json", wantStderr: []string{"warn", "error"}},
		{name: "json at trace", level: "trace", format: "json", wantStderr: []string{"trace", "debug", "info", "warn", "error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			file := filepath.Join(t.TempDir(), "logs", "crate.log")
			log, closeLog, err := New(Options{Level: tt.level, Format: tt.format, File: file, Stderr: &stderr})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			sub := log.Named("init").With("container_id", "abc")
			sub.Trace("trace line")
			sub.Debug("debug line")
			sub.Info("info line")
			sub.Warn("warn line", "pid", 123)
			sub.Error("error line")
			if err := closeLog(); err != nil {
				t.Fatalf("close: %v", err)
			}

			// The file always gets JSON from debug up, whatever stderr shows.
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			entries := jsonLines(t, data)
			if got, want := levelsOf(entries), []string{"debug", "info", "warn", "error"}; !reflect.DeepEqual(got, want) {
				t.Errorf("file levels = %v, want %v", got, want)
			}
			for _, e := range entries {
				if e[keyModule] != "crate.init" || e["container_id"] != "abc" {
					t.Errorf("file entry %v: want module crate.init and container_id abc", e)
				}
			}

			if tt.format == "json" {
				if got := levelsOf(jsonLines(t, stderr.Bytes())); !reflect.DeepEqual(got, tt.wantStderr) {
					t.Errorf("stderr levels = %v, want %v", got, tt.wantStderr)
				}
				return
			}
			text := stderr.String()
			lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
			if len(lines) != len(tt.wantStderr) {
				t.Fatalf("stderr has %d lines, want %d:\n%s", len(lines), len(tt.wantStderr), text)
			}
			for i, lvl := range tt.wantStderr {
				if want := "[" + strings.ToUpper(lvl) + "]"; !strings.Contains(lines[i], want) {
					t.Errorf("stderr line %q: want %s", lines[i], want)
				}
			}
			if !strings.Contains(text, " crate.init: warn line: container_id=abc pid=123\n") {
				t.Errorf("stderr lacks the warn line in hclog text form:\n%s", text)
			}
		})
	}
}

func levelsOf(entries []map[string]any) []string {
	var levels []string
	for _, e := range entries {
		levels = append(levels, e[keyLevel].(string))
	}
	return levels
}

func TestNewFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	file := filepath.Join(dir, "crate.log")
	_, closeLog, err := New(Options{File: file, Stderr: &bytes.Buffer{}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer closeLog()
	for _, c := range []struct {
		path string
		want fs.FileMode
	}{{dir, 0o700}, {file, 0o600}} {
		st, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != c.want {
			t.Errorf("%s mode = %v, want %v", c.path, got, c.want)
		}
	}
}

func TestNewWithoutFile(t *testing.T) {
	var stderr bytes.Buffer
	log, closeLog, err := New(Options{Stderr: &stderr})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	log.Warn("hello")
	if err := closeLog(); err != nil {
		t.Errorf("close: %v", err)
	}
	if !strings.Contains(stderr.String(), "[WARN]  crate: hello") {
		t.Errorf("stderr = %q", stderr.String())
	}
}

func TestNewErrors(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"bad level", Options{Level: "loud"}, `unknown log level "loud": want trace, debug, info, warn or error`},
		{"off is not a level", Options{Level: "off"}, "want trace, debug, info, warn or error"},
		{"bad format", Options{Format: "xml"}, `unknown log format "xml": want text or json`},
		// A directory cannot be made under a regular file, even as root.
		{"file cannot be opened", Options{File: filepath.Join(notDir, "logs", "crate.log")}, "use --log-file to choose another path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Stderr = &bytes.Buffer{}
			_, _, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestReEmit(t *testing.T) {
	tests := []struct {
		name  string
		child string         // what crate-init wrote
		want  map[string]any // the parent's JSON entry, without @timestamp
	}{
		{
			name:  "keeps level, message and fields",
			child: `{"@level":"debug","@message":"mount proc","@module":"initproc","@timestamp":"2026-11-28T11:15:19.123456Z","target":"/proc","flags":14}`,
			want:  map[string]any{"@level": "debug", "@message": "mount proc", "@module": "crate.init", "target": "/proc", "flags": json.Number("14")},
		},
		{
			name:  "drops the child's caller",
			child: `{"@level":"error","@message":"exec","@caller":"/src/init.go:42","@timestamp":"2026-11-28T11:15:19.123456Z","error":"no such file or directory"}`,
			want:  map[string]any{"@level": "error", "@message": "exec", "@module": "crate.init", "error": "no such file or directory"},
		},
		{
			name:  "unknown level becomes info",
			child: `{"@level":"all","@message":"odd"}`,
			want:  map[string]any{"@level": "info", "@message": "odd", "@module": "crate.init"},
		},
		{
			name:  "non-JSON output",
			child: "panic: boom",
			want:  map[string]any{"@level": "info", "@message": "output", "@module": "crate.init", "line": "panic: boom"},
		},
		{
			name:  "JSON that is not an hclog entry",
			child: `[1,2]`,
			want:  map[string]any{"@level": "info", "@message": "output", "@module": "crate.init", "line": "[1,2]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			parent := hclog.New(&hclog.LoggerOptions{Name: "crate", Output: &out, Level: hclog.Trace, JSONFormat: true})
			ReEmit(parent.Named("init"), strings.NewReader(tt.child+"\n\n"))
			got := jsonLines(t, out.Bytes())
			if len(got) != 1 {
				t.Fatalf("parent wrote %d entries, want 1:\n%s", len(got), out.String())
			}
			delete(got[0], keyTimestamp)
			if !reflect.DeepEqual(got[0], tt.want) {
				t.Errorf("parent entry = %v, want %v", got[0], tt.want)
			}
		})
	}
}

// TestReEmitFromChild runs the real child logger into ReEmit, as crate-init and the
// supervisor do over a pipe, and keeps the child's level threshold.
func TestReEmitFromChild(t *testing.T) {
	var pipe, out bytes.Buffer
	child := initlog.New(&pipe, initlog.Info)
	child.Debug("too detailed")
	child.Info("exec", "path", "/bin/sh", "argc", 2)
	child.Error("setup", "error", errors.New("mount: permission denied"))
	pipe.WriteString("no newline at the end")

	parent := hclog.New(&hclog.LoggerOptions{Name: "crate", Output: &out, Level: hclog.Trace, JSONFormat: true})
	ReEmit(parent.Named("init").With("container_id", "abc"), &pipe)

	got := jsonLines(t, out.Bytes())
	want := []map[string]any{
		{"@level": "info", "@message": "exec", "@module": "crate.init", "container_id": "abc", "path": "/bin/sh", "argc": json.Number("2")},
		{"@level": "error", "@message": "setup", "@module": "crate.init", "container_id": "abc", "error": "mount: permission denied"},
		{"@level": "info", "@message": "output", "@module": "crate.init", "container_id": "abc", "line": "no newline at the end"},
	}
	for _, e := range got {
		delete(e, keyTimestamp)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parent entries =\n%v\nwant\n%v", got, want)
	}
}
