package initlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, Debug)
	log.Trace("not written")
	log.Debug("mounted", "target", "/proc", "error", errors.New("EBUSY"), "took", time.Second, "n", 3)
	log.Error("odd", "key")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	var e map[string]any
	if err := json.Unmarshal(lines[0], &e); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"@level": "debug", "@message": "mounted", "target": "/proc", "error": "EBUSY", "took": "1s", "n": 3.0}
	for k, v := range want {
		if e[k] != v {
			t.Errorf("%s = %v, want %v", k, e[k], v)
		}
	}
	if err := json.Unmarshal(lines[1], &e); err != nil || e["EXTRA_VALUE_AT_END"] != "key" {
		t.Errorf("odd pair: %s", lines[1])
	}
	var nilLogger *Logger
	nilLogger.Error("nothing happens")
}

func TestParseLevel(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Level
		ok   bool
	}{{"trace", Trace, true}, {"DEBUG", Debug, true}, {" warn ", Warn, true}, {"error", Error, true}, {"off", 0, false}} {
		got, err := ParseLevel(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseLevel(%q) = %v, %v", c.in, got, err)
		}
	}
}
