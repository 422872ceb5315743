package logging

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

var t0 = time.Date(2026, 11, 28, 11, 15, 19, 123000000, time.UTC)

// logLine is one entry that the real hclog JSON logger appends to a test log file.
type logLine struct {
	at     time.Time
	level  hclog.Level
	module string
	msg    string
	args   []any
}

// appendLog writes entries with hclog itself, so Show is tested against its real format.
func appendLog(t *testing.T, path string, lines ...logLine) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		log := hclog.New(&hclog.LoggerOptions{
			Name: l.module, Output: f, Level: hclog.Trace, JSONFormat: true,
			TimeFn: func() time.Time { return l.at },
		})
		log.Log(l.level, l.msg, l.args...)
	}
}

func appendRaw(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// sampleLog holds four entries and two malformed lines; text[i] is how Show prints entry i.
func sampleLog(t *testing.T) (path string, text []string) {
	path = filepath.Join(t.TempDir(), "crate.log")
	cet := time.FixedZone("CET", 3600)
	appendLog(t, path,
		logLine{t0, hclog.Info, "crate", "container started", []any{"container_id", "abc123", "pid", 123}},
		logLine{t0.Add(time.Minute).In(cet), hclog.Debug, "crate.init", "mount proc", []any{"container_id", "abc123", "target", "/proc"}},
	)
	appendRaw(t, path, "not json\n")
	appendLog(t, path,
		logLine{t0.Add(2 * time.Minute), hclog.Warn, "crate", "container exited", []any{"container_id", "abd999", "reason", "out of memory", "oom", true}},
	)
	appendRaw(t, path, `{"@level":"info","@message":"no timestamp"}`+"\n\n")
	appendLog(t, path,
		logLine{t0.Add(3 * time.Minute), hclog.Error, "crate", "pull image", []any{"error", "connection refused"}},
	)
	return path, []string{
		"2026-11-28T11:15:19.123Z [INFO]  crate: container started: container_id=abc123 pid=123",
		"2026-11-28T11:16:19.123Z [DEBUG] crate.init: mount proc: container_id=abc123 target=/proc",
		`2026-11-28T11:17:19.123Z [WARN]  crate: container exited: container_id=abd999 oom=true reason="out of memory"`,
		`2026-11-28T11:18:19.123Z [ERROR] crate: pull image: error="connection refused"`,
	}
}

// jsonEntries returns the original lines of the entries in sampleLog, in order.
func jsonEntries(t *testing.T, path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var entries []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, `{"@level"`) && !strings.Contains(l, "no timestamp") {
			entries = append(entries, l)
		}
	}
	if len(entries) != 4 {
		t.Fatalf("sample log has %d entries, want 4", len(entries))
	}
	return entries
}

func TestShow(t *testing.T) {
	tests := []struct {
		name   string
		filter Filter
		want   []int // indexes of the sample entries shown
	}{
		{"no filter", Filter{}, []int{0, 1, 2, 3}},
		{"container exact id", Filter{Container: "abc123"}, []int{0, 1}},
		{"container id prefix", Filter{Container: "ab"}, []int{0, 1, 2}},
		{"container other prefix", Filter{Container: "abd"}, []int{2}},
		{"container unknown", Filter{Container: "zzz"}, nil},
		{"level warn and above", Filter{Level: hclog.Warn}, []int{2, 3}},
		{"level trace is everything", Filter{Level: hclog.Trace}, []int{0, 1, 2, 3}},
		{"since", Filter{Since: t0.Add(time.Minute)}, []int{1, 2, 3}},
		{"since after all", Filter{Since: t0.Add(time.Hour)}, nil},
		{"container and level", Filter{Container: "abc", Level: hclog.Info}, []int{0}},
	}
	path, text := sampleLog(t)
	raw := jsonEntries(t, path)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, asJSON := range []bool{false, true} {
				var out bytes.Buffer
				if err := Show(context.Background(), &out, path, tt.filter, asJSON, false); err != nil {
					t.Fatalf("Show: %v", err)
				}
				var want strings.Builder
				for _, i := range tt.want {
					if asJSON {
						want.WriteString(raw[i] + "\n")
					} else {
						want.WriteString(text[i] + "\n")
					}
				}
				if !asJSON {
					want.WriteString("crate log: skipped 2 malformed lines in " + path + "\n")
				}
				if out.String() != want.String() {
					t.Errorf("Show(asJSON=%v) =\n%s\nwant\n%s", asJSON, out.String(), want.String())
				}
			}
		})
	}
}

func TestShowMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crate.log")
	err := Show(context.Background(), &bytes.Buffer{}, path, Filter{}, false, false)
	if want := "no crate log at " + path + " yet"; err == nil || err.Error() != want {
		t.Fatalf("Show error = %v, want %q", err, want)
	}
}

func TestShowLastLineWithoutNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crate.log")
	appendLog(t, path, logLine{t0, hclog.Info, "crate", "first", nil})
	appendLog(t, path, logLine{t0, hclog.Info, "crate", "second", nil})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.TrimSuffix(data, []byte("\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Show(context.Background(), &out, path, Filter{}, false, false); err != nil {
		t.Fatalf("Show: %v", err)
	}
	want := "2026-11-28T11:15:19.123Z [INFO]  crate: first\n2026-11-28T11:15:19.123Z [INFO]  crate: second\n"
	if out.String() != want {
		t.Errorf("Show =\n%s\nwant\n%s", out.String(), want)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "", want: time.Time{}},
		{in: "10m", want: now.Add(-10 * time.Minute)},
		{in: "2h", want: now.Add(-2 * time.Hour)},
		{in: "1h30m", want: now.Add(-90 * time.Minute)},
		{in: "2026-11-28T11:15:19Z", want: time.Date(2026, 11, 28, 11, 15, 19, 0, time.UTC)},
		{in: "2026-11-28T11:15:19.5+01:00", want: time.Date(2026, 11, 28, 10, 15, 19, 500000000, time.UTC)},
		{in: "-5m", wantErr: true},
		{in: "yesterday", wantErr: true},
		{in: "2026-11-28", wantErr: true},
		{in: "10", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSince(tt.in, now)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseSince(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSince(%q): %v", tt.in, err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("ParseSince(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want hclog.Level
	}{
		{"trace", hclog.Trace}, {"debug", hclog.Debug}, {"info", hclog.Info},
		{"Warn", hclog.Warn}, {"ERROR", hclog.Error},
		{"off", hclog.NoLevel}, {"", hclog.NoLevel}, {"verbose", hclog.NoLevel},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if got != tt.want || (err != nil) != (tt.want == hclog.NoLevel) {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
