package containerlog

import (
	"strings"
	"testing"
	"time"
)

func TestEscapeControls(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain text", "hello, world\n", "hello, world\n"},
		{"tabs and newlines", "a\tb\n\nc", "a\tb\n\nc"},
		{"UTF-8", "grüße, 日本語, U+FFFD \ufffd, emoji 🙂\n", "grüße, 日本語, U+FFFD \ufffd, emoji 🙂\n"},
		{"a backslash stays", `C:\x1b`, `C:\x1b`},

		{"SGR colour", "\x1b[31mred\x1b[0m", "\x1b[31mred\x1b[0m"},
		{"SGR reset without parameters", "\x1b[m", "\x1b[m"},
		{"SGR 24-bit colours", "\x1b[1;38;2;255;128;0;48;2;0;0;0mx", "\x1b[1;38;2;255;128;0;48;2;0;0;0mx"},
		{"SGR with colons is escaped", "\x1b[38:2:1:2:3m", `\x1b[38:2:1:2:3m`},
		{"SGR too long is escaped", "\x1b[" + strings.Repeat("1;", 40) + "m", `\x1b[` + strings.Repeat("1;", 40) + "m"},

		{"cursor movement", "\x1b[2A\x1b[10;1H", `\x1b[2A\x1b[10;1H`},
		{"erase", "\x1b[2J\x1b[K", `\x1b[2J\x1b[K`},
		{"window title (OSC 0, BEL)", "\x1b]0;pwned\a", `\x1b]0;pwned\a`},
		{"clipboard (OSC 52, ST)", "\x1b]52;c;cm0gLXJmIC8K\x1b\\", `\x1b]52;c;cm0gLXJmIC8K\x1b\`},
		{"answer-back request (DA)", "\x1b[c", `\x1b[c`},
		{"private mode", "\x1b[?1049h", `\x1b[?1049h`},
		{"lone ESC", "a\x1bb", `a\x1bb`},
		{"ESC at the end", "a\x1b", `a\x1b`},
		{"ESC [ at the end", "a\x1b[1;3", `a\x1b[1;3`},
		{"carriage return", "progress 10%\rprogress 20%\n", `progress 10%\rprogress 20%` + "\n"},
		{"a terminal's line ends", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"a carriage return before one", "a\r\r\nb\n\r", `a\r` + "\r\nb\n" + `\r`},
		{"named C0", "\a\b\f\v", `\a\b\f\v`},
		{"other C0", "\x00\x01\x0e\x1f", `\x00\x01\x0e\x1f`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1 controls", "\u0080\u0085\u009b2J\u009d0;t\u009c\u009f", `\u0080\u0085\u009b2J\u009d0;t\u009c\u009f`},
		{"just above C1", "\u00a0\u00e9", "\u00a0\u00e9"},
		{"bytes that are not UTF-8", "a\xffb\xc0\xafc\x9b", `a\xffb\xc0\xafc\x9b`},
		{"a truncated character at the end", "ab\xe6\x97", `ab\xe6\x97`},
		{"a surrogate", "\xed\xa0\x80", `\xed\xa0\x80`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := escapeControls([]byte("kept:"), []byte(tt.in), false)
			if string(got) != "kept:"+tt.want || n != len(tt.in) {
				t.Errorf("escapeControls(%q) = %q, %d; want %q, %d", tt.in, got, n, "kept:"+tt.want, len(tt.in))
			}
		})
	}
}

// TestEscapeControlsHoldsBack: with more, what could still become a
// character or an SGR sequence is left for the next call; everything else
// is consumed.
func TestEscapeControlsHoldsBack(t *testing.T) {
	tests := []struct {
		in, out, held string
	}{
		{"abc", "abc", ""},
		{"abc\n", "abc\n", ""},
		{"ab\xe6\x97", "ab", "\xe6\x97"},
		{"ab\xe6", "ab", "\xe6"},
		{"ab\xff", `ab\xff`, ""}, // can start nothing
		{"ab\r", "ab", "\r"},
		{"ab\r\n", "ab\r\n", ""},
		{"ab\rc", `ab\rc`, ""},
		{"ab\x1b", "ab", "\x1b"},
		{"ab\x1b[", "ab", "\x1b["},
		{"ab\x1b[38;5", "ab", "\x1b[38;5"},
		{"ab\x1b[38;5m", "ab\x1b[38;5m", ""},
		{"ab\x1b]0", `ab\x1b]0`, ""}, // not SGR, whatever follows
		{"ab\x1b[2", "ab", "\x1b[2"},
		{"ab\x1b[" + strings.Repeat("1", maxSGR), `ab\x1b[` + strings.Repeat("1", maxSGR), ""},
	}
	for _, tt := range tests {
		got, n := escapeControls(nil, []byte(tt.in), true)
		if string(got) != tt.out || tt.in[n:] != tt.held {
			t.Errorf("escapeControls(%q, more) = %q, holding %q; want %q, holding %q", tt.in, got, tt.in[n:], tt.out, tt.held)
		}
	}
}

// TestShowEscapes: Show escapes the streams it is told to, and a line split
// over entries mid-character or mid-sequence comes out as if it were whole.
func TestShowEscapes(t *testing.T) {
	entries := []at{
		{0, Stdout, "\x1b[1mbold\x1b[0m \x1b[2J\r\n"},
		{1, Stderr, "\x1b]0;title\a\n"},
		{2, Stdout, "split \x1b[3"},   // mid-SGR
		{3, Stdout, "1mred \xe6\x97"}, // mid-character
		{4, Stdout, "\xa5 \x1b"},      // mid-escape
		{5, Stdout, "[Kend\r"},        // mid-line end
		{6, Stdout, "\n"},
		{7, Stdout, "cut off \xe6"}, // the end of the output
	}
	stdoutEscaped := "\x1b[1mbold\x1b[0m \\x1b[2J\r\n" + "split \x1b[31mred 日 \\x1b[Kend\r\n" + `cut off \xe6`
	stdoutRaw := "\x1b[1mbold\x1b[0m \x1b[2J\r\n" + "split \x1b[31mred 日 \x1b[Kend\r\n" + "cut off \xe6"
	ts := func(sec int) string { return t0.Add(time.Duration(sec)*time.Second).Format(timeFormat) + " " }
	checkShow(t, entries, []showCase{
		{"stdout", Options{Escape: map[Stream]bool{Stdout: true}}, stdoutEscaped, "\x1b]0;title\a\n"},
		{"stderr", Options{Escape: map[Stream]bool{Stderr: true}}, stdoutRaw, `\x1b]0;title\a` + "\n"},
		{"none", Options{}, stdoutRaw, "\x1b]0;title\a\n"},
		{"timestamps stay outside", Options{Escape: map[Stream]bool{Stderr: true}, Timestamps: true, Since: t0.Add(time.Second)},
			ts(2) + "split \x1b[31mred 日 \x1b[Kend\r\n" + ts(7) + "cut off \xe6", ts(1) + `\x1b]0;title\a` + "\n"},
	})
}
