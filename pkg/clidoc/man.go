package clidoc

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/alecthomas/kong"
)

// ManOptions are what a manual page says that the model does not know.
type ManOptions struct {
	Version string // in the footer: "crate 1.2.0"
	Date    string // in the footer; mandoc wants YYYY-MM-DD or "Month D, YYYY"

	// Summary is the root page's NAME line after the dash ("run commands
	// in Linux containers"); empty, the first sentence of the description.
	Summary string

	// ExitStatus is the root page's EXIT STATUS section, in order; none,
	// no section. Exit codes are decided by the program, not by its model.
	ExitStatus []ExitStatus
}

// ExitStatus is one exit code of the program and what it means.
type ExitStatus struct {
	Code    string // "0", "125", or a range in words ("1-124")
	Meaning string
}

// ManPages renders the manual pages of app: "NAME.1" for the application
// and "NAME-CMD-SUB.1" for every visible command that has no subcommands.
// Each value is a page in roff (the man macros), ready for man -l.
//
// The root page lists the commands and the global flags; its FILES section
// is the defaults of the global flags of type path, which is where the
// program keeps its files unless told otherwise.
func ManPages(app *kong.Application, o ManOptions) (map[string][]byte, error) {
	if app == nil || app.Node == nil {
		return nil, fmt.Errorf("man pages: no command-line model")
	}
	root := newTree(app)
	pages := map[string][]byte{
		root.pageName() + ".1": rootPage(root, o),
	}
	for _, leaf := range root.leaves() {
		pages[leaf.pageName()+".1"] = commandPage(leaf, o)
	}
	return pages, nil
}

// rootPage is the page of the application: crate(1).
func rootPage(root *command, o ManOptions) []byte {
	var p roff
	p.header(root, o)

	p.section("NAME")
	name := o.Summary
	if name == "" {
		name = summary(root.node.Help)
	}
	p.text(root.pageName() + " - " + name)

	p.section("SYNOPSIS")
	p.line(bold(root.name()) + " [" + italic("global-options") + "] " +
		italic("command") + " [" + italic("options") + "] [" + italic("args") + "]")

	p.section("DESCRIPTION")
	p.paragraphs(root.node.Help)
	if root.node.Detail != "" {
		p.macro("PP")
		p.paragraphs(root.node.Detail)
	}

	p.section("COMMANDS")
	for _, leaf := range root.leaves() {
		p.macro("TP")
		p.line(synopsis(leaf))
		p.paragraphs(leaf.node.Help)
	}

	p.section("GLOBAL OPTIONS")
	p.text("These options are taken by every command, before or after its name.")
	for _, f := range root.flags {
		p.flag(f)
	}

	if len(o.ExitStatus) > 0 {
		p.section("EXIT STATUS")
		for _, s := range o.ExitStatus {
			p.macro("TP")
			p.line(bold(s.Code))
			p.paragraphs(s.Meaning)
		}
	}

	if files := pathDefaults(root.flags); len(files) > 0 {
		p.section("FILES")
		for _, f := range files {
			p.macro("TP")
			p.line(italic(f.Default))
			p.paragraphs(f.Help)
			p.line("Set with " + bold("--"+f.Name) + ".")
		}
	}

	p.section("SEE ALSO")
	var refs []string
	for _, leaf := range root.leaves() {
		refs = append(refs, leaf.pageName())
	}
	p.seeAlso(refs)
	return p.bytes()
}

// commandPage is the page of one command: crate-run(1).
func commandPage(c *command, o ManOptions) []byte {
	root := c
	for !root.isRoot() {
		root = root.parent
	}
	var p roff
	p.header(c, o)

	p.section("NAME")
	p.text(c.pageName() + " - " + nameLine(c.node.Help))

	p.section("SYNOPSIS")
	p.line(synopsis(c))

	p.section("DESCRIPTION")
	p.paragraphs(c.node.Help)
	if c.node.Detail != "" {
		p.macro("PP")
		p.paragraphs(c.node.Detail)
	}

	if len(c.node.Positional) > 0 {
		p.section("ARGUMENTS")
		for _, a := range c.node.Positional {
			p.macro("TP")
			p.line(italic(a.Name))
			p.paragraphs(a.Help)
			p.valueNotes(a)
		}
	}

	// A command's options are its own and those of the commands between it
	// and the root (crate image's, for crate image import); the root's are
	// the global options, described once, in the root page.
	var own []*kong.Flag
	for a := c; !a.isRoot(); a = a.parent {
		own = append(append([]*kong.Flag{}, a.flags...), own...)
	}
	if len(own) > 0 {
		p.section("OPTIONS")
		for _, f := range own {
			p.flag(f)
		}
	}

	p.section("GLOBAL OPTIONS")
	p.line("The global options of " + bold(root.pageName()) + "(1) apply too: " +
		strings.Join(flagList(root.flags), ", ") + ".")

	p.section("SEE ALSO")
	refs := []string{root.pageName()}
	if !c.parent.isRoot() {
		for _, sibling := range c.parent.leaves() {
			if sibling != c {
				refs = append(refs, sibling.pageName())
			}
		}
	}
	p.seeAlso(refs)
	return p.bytes()
}

// synopsis is how the command is typed, in roff: the words in bold, the
// arguments in italics, optional ones in brackets, repeatable ones with "...".
func synopsis(c *command) string {
	parts := []string{bold(c.name())}
	if len(allOwnFlags(c)) > 0 {
		parts = append(parts, "["+italic("options")+"]")
	}
	for _, a := range c.node.Positional {
		s := italic(a.Name)
		if a.IsCumulative() {
			s += " ..."
		}
		if !a.Required {
			s = "[" + s + "]"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// allOwnFlags are the flags of c and its parents below the root.
func allOwnFlags(c *command) []*kong.Flag {
	var out []*kong.Flag
	for a := c; !a.isRoot(); a = a.parent {
		out = append(out, a.flags...)
	}
	return out
}

// flagList names each flag in bold, for a sentence.
func flagList(flags []*kong.Flag) []string {
	var out []string
	for _, f := range flags {
		out = append(out, bold("--"+f.Name))
	}
	return out
}

// pathDefaults are the flags of type path with a default: files and
// directories the program uses when not told otherwise.
func pathDefaults(flags []*kong.Flag) []*kong.Flag {
	var out []*kong.Flag
	for _, f := range flags {
		if f.Tag.Type == "path" && f.Default != "" {
			out = append(out, f)
		}
	}
	return out
}

// nameLine turns a help text into the NAME line's description, as man pages
// write it: "Run a command in a new container." becomes "run a command in
// a new container". An initial capital stays when the next letter is one
// too (an acronym: "PID").
func nameLine(help string) string {
	s := summary(help)
	r := []rune(s)
	if len(r) > 1 && unicode.IsUpper(r[0]) && !unicode.IsUpper(r[1]) {
		r[0] = unicode.ToLower(r[0])
	}
	return string(r)
}
