package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuoteShort(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"httpd -f -p 8080", 30, `"httpd -f -p 8080"`},
		{"", 30, `""`},
		{`say "hi" \o/`, 30, `"say \"hi\" \\o/"`},
		{"exactly ten", 11, `"exactly ten"`},
		{"twelve chars", 11, `"twelve cha…"`},
		{"a\x1b[2Jb", 30, `"a\x1b[2Jb"`},
		{"title\x1b]0;pwned\a\r\x7f\u009b\xff", 50, `"title\x1b]0;pwned\a\r\x7f\u009b\xff"`},
		// A cut never splits an escape: "ab" and "\x1b" (4) fill 6 of 7, so
		// the next escape does not fit whole.
		{"ab\x1b\x1b\x1b", 7, `"ab\x1b…"`},
		{"ab\x1b\x1b\x1b", 11, `"ab\x1b\x1b…"`},
		{"ab\u009bcdef", 7, `"ab…"`},
		{"ab\xffcdefg", 7, `"ab\xff…"`},
		// Nor a multi-byte character: printable ones stay as they are and
		// count as one.
		{"héllo wörld, grüße", 10, `"héllo wör…"`},
		{"日本語のテキストです", 5, `"日本語の…"`},
	}
	for _, tt := range tests {
		got := quoteShort(tt.in, tt.n)
		if got != tt.want {
			t.Errorf("quoteShort(%q, %d) = %s, want %s", tt.in, tt.n, got, tt.want)
		}
		if inner := utf8.RuneCountInString(got) - 2; inner > tt.n {
			t.Errorf("quoteShort(%q, %d) = %s: %d characters between the quotes", tt.in, tt.n, got, inner)
		}
		if !utf8.ValidString(got) {
			t.Errorf("quoteShort(%q, %d) = %q is not UTF-8", tt.in, tt.n, got)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	value := map[string]any{
		"command": []string{"sh", "-c", "a\x1b[2J\r\n\tb\x7fc\u0080\u009bd\u00a0é"},
		"spec":    json.RawMessage("{\"args\":[\"x\xffy\"]}"),
	}
	for _, indent := range []string{"", "  "} {
		var out strings.Builder
		if err := writeJSON(&out, value, indent); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		want := `{"command":["sh","-c","a\u001b[2J\r\n\tb\u007fc\u0080\u009bd` + "\u00a0é" + `"],"spec":{"args":["x\ufffdy"]}}` + "\n"
		if indent != "" {
			var compact bytes.Buffer
			if err := json.Compact(&compact, []byte(got)); err != nil {
				t.Fatalf("writeJSON indented %q: %v", got, err)
			}
			got = compact.String() + "\n"
		}
		if got != want {
			t.Errorf("writeJSON(indent %q) = %s, want %s", indent, got, want)
		}
		var back struct {
			Command []string
			Spec    struct{ Args []string }
		}
		if err := json.Unmarshal([]byte(out.String()), &back); err != nil {
			t.Fatal(err)
		}
		if back.Command[2] != value["command"].([]string)[2] || back.Spec.Args[0] != "x\ufffdy" {
			t.Errorf("writeJSON does not read back as the data: %q", back)
		}
	}
}
