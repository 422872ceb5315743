// Package clidoc turns a kong command-line model into manual pages and shell
// completion scripts. Both are generated from the same model kong parses
// with, so they say what --help says and cannot drift from it.
package clidoc

import (
	"regexp"
	"strings"

	"github.com/alecthomas/kong"
)

// command is a visible command of the model as the generators see it: the
// root (the application) or a command under it. Hidden commands and hidden
// flags are left out when the tree is built, so no generator has to
// remember to skip them.
type command struct {
	node     *kong.Node
	words    []string // the words that reach it: "crate", "image", "import"
	key      string   // a name for it in shell code: "crate_image_import"
	parent   *command
	children []*command
	flags    []*kong.Flag // its own visible flags, not its parents'
}

// newTree builds the tree of visible commands of app.
func newTree(app *kong.Application) *command {
	return newCommand(app.Node, nil)
}

func newCommand(n *kong.Node, parent *command) *command {
	c := &command{node: n, parent: parent}
	if parent == nil {
		c.words = []string{n.Name}
		c.key = shellName(n.Name)
	} else {
		c.words = append(append([]string{}, parent.words...), n.Name)
		c.key = parent.key + "_" + shellName(n.Name)
	}
	for _, f := range n.Flags {
		if !f.Hidden {
			c.flags = append(c.flags, f)
		}
	}
	for _, child := range n.Children {
		// A branching positional argument (kong's `arg:""` on a struct) is
		// a child too, but not a word one can complete.
		if child.Type == kong.CommandNode && !child.Hidden {
			c.children = append(c.children, newCommand(child, c))
		}
	}
	return c
}

// isRoot reports whether c is the application itself.
func (c *command) isRoot() bool { return c.parent == nil }

// name is how a user types the command: "crate image import".
func (c *command) name() string { return strings.Join(c.words, " ") }

// pageName is the name of its manual page: "crate-image-import".
func (c *command) pageName() string { return strings.Join(c.words, "-") }

// allFlags are the flags the command accepts: its parents' (kong takes a
// parent's flags after a subcommand too), then its own.
func (c *command) allFlags() []*kong.Flag {
	if c.parent == nil {
		return c.flags
	}
	return append(append([]*kong.Flag{}, c.parent.allFlags()...), c.flags...)
}

// leaves are the commands under c that have no subcommands, depth first in
// the model's order: the commands one can run, each with a manual page.
func (c *command) leaves() []*command {
	var out []*command
	for _, child := range c.children {
		if len(child.children) == 0 {
			out = append(out, child)
		} else {
			out = append(out, child.leaves()...)
		}
	}
	return out
}

// callNames are the words that select command c under its parent: its name
// and its aliases.
func (c *command) callNames() []string {
	return append([]string{c.node.Name}, c.node.Aliases...)
}

// flagNames are the words that set f: "-d", "--detach", its aliases and its
// negation ("--no-detach").
func flagNames(f *kong.Flag) []string {
	var names []string
	if f.Short != 0 {
		names = append(names, "-"+string(f.Short))
	}
	names = append(names, "--"+f.Name)
	for _, a := range f.Aliases {
		names = append(names, "--"+a)
	}
	if neg := negation(f); neg != "" {
		names = append(names, neg)
	}
	return names
}

// negation is the flag that sets a negatable bool flag to false, or "".
// kong stores `negatable:""` as "_" (meaning --no-NAME) and
// `negatable:"other"` as the other name.
func negation(f *kong.Flag) string {
	switch f.Tag.Negatable {
	case "":
		return ""
	case "_":
		return "--no-" + f.Name
	default:
		return "--" + f.Tag.Negatable
	}
}

// takesValue reports whether a flag is followed by a value.
func takesValue(f *kong.Flag) bool { return !f.IsBool() && !f.IsCounter() }

// repeatable reports whether a flag may be given more than once.
func repeatable(f *kong.Flag) bool { return f.IsCumulative() || f.IsCounter() }

// valueKind is how the value of a flag or a positional argument completes.
type valueKind int

const (
	completeFiles valueKind = iota // file names: for type:"path", and when nothing better is known
	completeDirs                   // directory names: type:"existingdir"
	completeWords                  // the words of an enum
)

// completion says how v's value completes: with kindWords, the words.
func completion(v *kong.Value) (valueKind, []string) {
	if words := enumWords(v); len(words) > 0 {
		return completeWords, words
	}
	if v.Tag.Type == "existingdir" {
		return completeDirs, nil
	}
	return completeFiles, nil
}

// enumWords are the values of an enum flag or argument, without the empty
// one some enums allow (`enum:"overlay,copy,"` means "or not given").
func enumWords(v *kong.Value) []string {
	if v.Enum == "" {
		return nil
	}
	var out []string
	for _, w := range v.EnumSlice() {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// summary is the first sentence of a help text without its final period:
// enough for the one line a shell shows beside a completion.
func summary(help string) string {
	s := strings.TrimSpace(help)
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

var notShellName = regexp.MustCompile(`[^A-Za-z0-9_]`)

// shellName makes a command name fit in a shell function or variable name.
func shellName(s string) string { return notShellName.ReplaceAllString(s, "_") }
