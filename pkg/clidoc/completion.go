package clidoc

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/alecthomas/kong"
)

// Completion writes a completion script for shell ("bash", "zsh" or
// "fish") to w. The script is static: it knows the visible commands and
// subcommands, each command's flags (its own and its parents'), the values
// of enum flags and arguments, and completes file names for the rest.
func Completion(app *kong.Application, shell string, w io.Writer) error {
	if app == nil || app.Node == nil {
		return fmt.Errorf("%s completion: no command-line model", shell)
	}
	root := newTree(app)
	var buf bytes.Buffer
	switch shell {
	case "bash":
		writeBash(&buf, root)
	case "zsh":
		writeZsh(&buf, root)
	case "fish":
		writeFish(&buf, root)
	default:
		return fmt.Errorf("completion for %q: unknown shell (bash, zsh or fish)", shell)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s completion: %w", shell, err)
	}
	return nil
}

// walk calls f for c and every command under it, parents first.
func walk(c *command, f func(*command)) {
	f(c)
	for _, child := range c.children {
		walk(child, f)
	}
}

// shQuote quotes s for bash and zsh: in single quotes, where only the
// single quote itself needs care: it is written as a close quote, an
// escaped quote, and an open quote.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// commandWords are the words that select c's subcommands: names and aliases.
func commandWords(c *command) []string {
	var out []string
	for _, child := range c.children {
		out = append(out, child.callNames()...)
	}
	return out
}

// allFlagNames are every word that sets one of the flags c accepts.
func allFlagNames(c *command) []string {
	var out []string
	for _, f := range c.allFlags() {
		out = append(out, flagNames(f)...)
	}
	return out
}
