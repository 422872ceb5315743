package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Strings a container or its image chose (its command, its environment) are
// hostile: printed raw, an ESC or a C1 control would let the image move the
// operator's cursor, clear the screen or set the window title. Tables show
// them quoted, as docker ps does; JSON keeps them exact but escaped.

// quoteShort quotes s as a Go string literal (strconv.Quote: control
// characters, DEL and bytes that are not UTF-8 become \x1b, \r, \u009b,
// \xff) and cuts what stands between the quotes to at most n characters,
// marking the cut with "…". docker ps cuts, then quotes; cutting the quoted
// text instead bounds the column's width however many escapes s holds, and
// the cut falls between whole escapes and whole characters: never "\x1" of
// "\x1b", nor half of a multi-byte character.
func quoteShort(s string, n int) string {
	q := strconv.Quote(s)
	if utf8.RuneCountInString(q)-2 <= n {
		return q
	}
	var b strings.Builder
	b.WriteByte('"')
	width := 0
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		// strconv.Quote escapes rune by rune (an invalid byte alone), so
		// the pieces put together are exactly q.
		piece := strconv.Quote(s[i : i+size])
		piece = piece[1 : len(piece)-1]
		w := utf8.RuneCountInString(piece)
		if width+w > n-1 {
			break
		}
		b.WriteString(piece)
		width += w
		i += size
	}
	b.WriteString(`…"`)
	return b.String()
}

// writeJSON writes v as JSON and a newline, indented by indent unless it is
// "". encoding/json escapes the C0 controls only; writeJSON also writes DEL
// and the C1 controls (U+0080 to U+009F: U+009B is CSI to many terminals)
// as \u escapes, and a byte that is not UTF-8 (json.RawMessage copies
// bytes as they are) as \ufffd, what encoding/json makes of one in a
// string. Outside strings JSON is ASCII, so every such character stands in
// a string, and a decoder reads the escape back as the same character: the
// data stays exact.
func writeJSON(w io.Writer, v any, indent string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err := w.Write(escapeJSONControls(buf.Bytes()))
	return err
}

// escapeJSONControls is writeJSON's escaping of encoded JSON.
func escapeJSONControls(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = append(out, `\ufffd`...)
		case r == 0x7f || r >= 0x80 && r <= 0x9f:
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}
