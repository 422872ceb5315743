package clidoc

import (
	"bytes"
	"strings"

	"github.com/alecthomas/kong"
)

// roff builds a page in the man macros. Every piece of text from the model
// goes through escape, and every line of it through a check of its first
// character, because roff reads a backslash as an escape, a "-" as a hyphen
// (not the minus an option needs, which man pages must write \-), and a
// line starting with "." or "'" as a request.
type roff struct {
	buf bytes.Buffer
}

func (p *roff) bytes() []byte { return p.buf.Bytes() }

// header writes the title line: .TH CRATE\-RUN 1 DATE "crate VERSION".
func (p *roff) header(c *command, o ManOptions) {
	source := c.words[0]
	if o.Version != "" {
		source += " " + o.Version
	}
	// The date is left unescaped: mandoc must read it as a date.
	p.macro("TH", escape(strings.ToUpper(c.pageName())), "1", o.Date, escape(source), "User Commands")
	// No hyphenation, and a ragged right margin: option names and paths
	// must not be broken at a line's end, where a reader would copy them
	// with a hyphen that is not theirs.
	// (Requests, not macros: their arguments are numbers or letters, which
	// must not be quoted.)
	p.buf.WriteString(".nh\n.ad l\n")
}

// macro writes a request with its arguments, already escaped, each
// quoted: a quote in one is written \(dq, the one way roff has to put it
// inside quotes.
func (p *roff) macro(name string, args ...string) {
	p.buf.WriteString("." + name)
	for _, a := range args {
		p.buf.WriteString(` "` + strings.ReplaceAll(a, `"`, `\(dq`) + `"`)
	}
	p.buf.WriteByte('\n')
}

func (p *roff) section(title string) { p.macro("SH", escape(title)) }

// line writes a line of roff that is already escaped (made by bold, italic).
func (p *roff) line(s string) { p.buf.WriteString(safeLine(s) + "\n") }

// text writes plain text.
func (p *roff) text(s string) { p.line(escape(s)) }

// paragraphs writes plain text that may have several lines; a blank line
// starts a new paragraph, as in kong's detailed help.
func (p *roff) paragraphs(s string) {
	blank := false
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			blank = true
			continue
		}
		if blank {
			p.macro("PP")
			blank = false
		}
		p.text(l)
	}
}

// flag writes a flag as a tagged paragraph: its names and placeholder,
// then its help, its values and its default.
func (p *roff) flag(f *kong.Flag) {
	var names []string
	if f.Short != 0 {
		names = append(names, bold("-"+string(f.Short)))
	}
	long := "--" + f.Name
	if neg := negation(f); neg == "--no-"+f.Name {
		long = "--[no-]" + f.Name
	}
	names = append(names, bold(long))
	for _, a := range f.Aliases {
		names = append(names, bold("--"+a))
	}
	tag := strings.Join(names, ", ")
	if takesValue(f) {
		tag += "=" + italic(f.FormatPlaceHolder())
	}
	p.macro("TP")
	p.line(tag)
	p.paragraphs(f.Help)
	if neg := negation(f); neg != "" && neg != "--no-"+f.Name {
		p.line(bold(neg) + " " + escape("undoes it."))
	}
	p.valueNotes(f.Value)
}

// valueNotes says which values an enum takes and what the default is.
func (p *roff) valueNotes(v *kong.Value) {
	if words := enumWords(v); len(words) > 0 {
		var bolds []string
		for _, w := range words {
			bolds = append(bolds, bold(w))
		}
		p.line("One of: " + strings.Join(bolds, ", ") + ".")
	}
	if v.HasDefault && v.Default != "" && !v.IsBool() {
		p.line("Default: " + bold(v.Default) + ".")
	}
}

// seeAlso writes the references to other pages, all in section 1.
func (p *roff) seeAlso(pages []string) {
	var refs []string
	for _, page := range pages {
		refs = append(refs, bold(page)+"(1)")
	}
	p.line(strings.Join(refs, ",\n"))
}

// escape makes plain text roff text: a backslash is \e and a hyphen \-.
// The backslash goes first, or the \- would be escaped again.
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// safeLine keeps a text line from being read as a request: \& is an empty
// character that puts something before the "." or "'".
func safeLine(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// bold and italic escape plain text and set it in a font, returning to
// the roman font after.
func bold(s string) string   { return `\fB` + escape(s) + `\fR` }
func italic(s string) string { return `\fI` + escape(s) + `\fR` }
