package containerlog

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// A detached container's output is written by whatever runs in it, and read
// later by an operator at a terminal, which acts on what it is sent: a
// container could move the cursor and rewrite lines already shown, clear the
// screen, set the window title, write the clipboard (OSC 52) or make the
// terminal answer back as if the operator had typed. So, for a terminal,
// Show writes such bytes out visibly instead (Options.Escape). Docker passes
// them raw; colours are common in logs and cannot do any of that, so they
// pass.
//
// The notation is a Go string literal's, as strconv.Quote writes it and as
// crate ps shows a command: \a \b \f \r \v, \x1b and the like for the other
// C0 controls and DEL, \u0080 to \u009f for the C1 controls, \xff for a
// byte that is not UTF-8. A backslash is left alone, so a container can
// print text that looks like an escape; it cannot print a control
// character.

// maxSGR bounds the length of an SGR sequence that is let through. Real ones
// are far shorter (a 24-bit foreground and background with attributes is
// about 45 bytes); the bound keeps what escapeControls holds back between
// two entries small.
const maxSGR = 64

// escapeControls appends src to dst, passing "\n", "\t", "\r\n", printable
// characters and SGR colour sequences (ESC [ digits-and-semicolons m, at
// most maxSGR bytes) as they are, and writing every other C0 control
// (ESC, BEL and a "\r" without its "\n" included), DEL, C1 control (U+0080
// to U+009F) and byte that is not UTF-8 as an escape (see above). It
// returns dst and how many bytes of src it consumed: with more set, src may
// be cut short of the rest of its stream (a long line is split over
// entries), and an incomplete UTF-8 sequence, a possible SGR sequence or a
// "\r" at its end is left for the caller to pass again in front of what
// follows. Without more, all of src is consumed.
func escapeControls(dst, src []byte, more bool) ([]byte, int) {
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\n' || c == '\t' || c >= 0x20 && c < 0x7f:
			dst = append(dst, c)
			i++
		case c == '\r' && i+1 < len(src) && src[i+1] == '\n':
			// A terminal's own line end (a container run with -t writes
			// nothing else): it returns to a line it then leaves, and
			// cannot overwrite it.
			dst = append(dst, "\r\n"...)
			i += 2
		case c == '\r' && i+1 == len(src) && more:
			return dst, i
		case c == 0x1b:
			n, complete := sgrLen(src[i:])
			if !complete && more {
				return dst, i
			}
			if n > 0 {
				dst = append(dst, src[i:i+n]...)
				i += n
				continue
			}
			dst = appendEscapedRune(dst, rune(c))
			i++
		case c < utf8.RuneSelf: // the other C0 controls and DEL
			dst = appendEscapedRune(dst, rune(c))
			i++
		default:
			if more && !utf8.FullRune(src[i:]) {
				return dst, i
			}
			r, size := utf8.DecodeRune(src[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				dst = fmt.Appendf(dst, `\x%02x`, c)
			case r <= 0x9f: // a C1 control
				dst = appendEscapedRune(dst, r)
			default:
				dst = append(dst, src[i:i+size]...)
			}
			i += size
		}
	}
	return dst, i
}

// sgrLen looks at an ESC at b[0]: it returns the length of the SGR sequence
// it starts, or 0 if it starts none. complete is false when b ends before
// that is known.
func sgrLen(b []byte) (n int, complete bool) {
	for i := 1; i < len(b) && i < maxSGR; i++ {
		switch c := b[i]; {
		case i == 1:
			if c != '[' {
				return 0, true
			}
		case c == 'm':
			return i + 1, true
		case c != ';' && (c < '0' || c > '9'):
			return 0, true
		}
	}
	return 0, len(b) >= maxSGR
}

// appendEscapedRune appends r as strconv.QuoteRune writes it, without the
// quotes.
func appendEscapedRune(dst []byte, r rune) []byte {
	q := strconv.QuoteRune(r)
	return append(dst, q[1:len(q)-1]...)
}
