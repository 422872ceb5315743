package clidoc

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/alecthomas/kong"
)

// writeZsh writes the zsh script: one function per command, each a call of
// _arguments with the command's flags (its own and its parents') and either
// its positional arguments or, for a command with subcommands, a state that
// lists them and hands the rest of the line to the chosen one's function.
func writeZsh(b *bytes.Buffer, root *command) {
	name := root.words[0]
	fmt.Fprintf(b, "#compdef %s\n", name)
	fmt.Fprintf(b, "# zsh completion for %s, generated from its command line by `%s completion zsh`.\n", name, name)
	fmt.Fprintf(b, "# Load it with: source <(%s completion zsh), or save it as _%s in a directory of $fpath.\n\n", name, name)

	walk(root, func(c *command) {
		fmt.Fprintf(b, "_%s() {\n", c.key)
		var specs []string
		for _, f := range c.allFlags() {
			specs = append(specs, zshFlagSpecs(f)...)
		}
		if len(c.children) > 0 {
			b.WriteString("\tlocal curcontext=$curcontext state line\n")
			b.WriteString("\t_arguments -C \\\n")
			specs = append(specs, "': :->command'", "'*:: :->arg'")
		} else {
			b.WriteString("\t_arguments \\\n")
			for _, a := range c.node.Positional {
				specs = append(specs, zshArgSpec(a))
			}
		}
		for i, s := range specs {
			if i < len(specs)-1 {
				s += " \\"
			}
			fmt.Fprintf(b, "\t\t%s\n", s)
		}
		if len(c.children) > 0 {
			b.WriteString("\tcase $state in\n\tcommand)\n\t\tlocal -a commands\n\t\tcommands=(\n")
			for _, child := range c.children {
				for _, w := range child.callNames() {
					fmt.Fprintf(b, "\t\t\t%s\n", shQuote(zshDescribeEscape(w)+":"+summary(child.node.Help)))
				}
			}
			fmt.Fprintf(b, "\t\t)\n\t\t_describe -t commands %s commands\n\t\t;;\n", shQuote(c.name()+" command"))
			// After '*::', $line[1] is the subcommand's word and the words
			// are shifted to start with it, as its function expects.
			b.WriteString("\targ)\n\t\tcase $line[1] in\n")
			for _, child := range c.children {
				fmt.Fprintf(b, "\t\t%s) _%s ;;\n", strings.Join(child.callNames(), "|"), child.key)
			}
			b.WriteString("\t\tesac\n\t\t;;\n\tesac\n")
		}
		b.WriteString("}\n\n")
	})

	// Autoloaded from $fpath, the file is the body of _NAME and must
	// complete; sourced, it must register _NAME.
	fmt.Fprintf(b, "if [[ $funcstack[1] == _%s ]]; then\n\t_%s \"$@\"\nelse\n\tcompdef _%s %s\nfi\n",
		root.key, root.key, root.key, name)
}

// zshFlagSpecs are _arguments specs for a flag: '(-d --detach)'{-d,--detach}'[help]',
// with ':PLACEHOLDER:action' when it takes a value, and a leading '*' when it
// may be repeated (then without the exclusion list, which would forbid that).
func zshFlagSpecs(f *kong.Flag) []string {
	var names []string
	if f.Short != 0 {
		n := "-" + string(f.Short)
		if takesValue(f) {
			n += "+" // the value in the same word or the next
		}
		names = append(names, n)
	}
	longs := []string{"--" + f.Name}
	for _, a := range f.Aliases {
		longs = append(longs, "--"+a)
	}
	for _, l := range longs {
		if takesValue(f) {
			l += "=" // --flag=value or --flag value
		}
		names = append(names, l)
	}

	rest := "[" + zshBracketEscape(summary(f.Help)) + "]"
	if takesValue(f) {
		// The message names the value; kong's placeholder would be the
		// quoted default ("auto") where none is given.
		message := f.PlaceHolder
		if message == "" {
			message = strings.ToUpper(f.Name)
		}
		rest += ":" + zshColonEscape(message) + ":" + zshAction(f.Value)
	}

	// The exclusion list (-d --detach): once one is given, offer neither.
	prefix := ""
	if repeatable(f) {
		prefix = "*"
	} else if len(names) > 1 {
		var plain []string
		for _, n := range names {
			plain = append(plain, strings.TrimRight(n, "+="))
		}
		prefix = "(" + strings.Join(plain, " ") + ")"
	}
	var spec string
	if len(names) == 1 {
		spec = shQuote(prefix + names[0] + rest)
	} else {
		var quoted []string
		for _, n := range names {
			quoted = append(quoted, shQuote(n))
		}
		// zsh's brace expansion makes one spec per name.
		spec = shQuote(prefix) + "{" + strings.Join(quoted, ",") + "}" + shQuote(rest)
	}
	specs := []string{spec}
	if neg := negation(f); neg != "" {
		specs = append(specs, shQuote(neg+"["+zshBracketEscape("Undo "+longs[0])+"]"))
	}
	return specs
}

// zshArgSpec is the _arguments spec of a positional argument: ':name:action',
// '::name:action' when it is optional, '*:name:action' when it repeats.
func zshArgSpec(a *kong.Value) string {
	lead := ":"
	switch {
	case a.IsCumulative():
		lead = "*:"
	case !a.Required:
		lead = "::"
	}
	return shQuote(lead + zshColonEscape(a.Name) + ":" + zshAction(a))
}

// zshAction is how a value completes: (w1 w2), _files or _files -/.
func zshAction(v *kong.Value) string {
	switch kind, words := completion(v); kind {
	case completeWords:
		var esc []string
		for _, w := range words {
			esc = append(esc, zshWordEscape(w))
		}
		return "(" + strings.Join(esc, " ") + ")"
	case completeDirs:
		return "_files -/"
	default:
		return "_files"
	}
}

// The escapes of the small languages inside _arguments specs: a
// description in brackets ends at ']', a message at ':', a word of a list
// at a blank or a parenthesis; a backslash escapes each.
var (
	zshBracketEscape  = strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`).Replace
	zshColonEscape    = strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace
	zshDescribeEscape = zshColonEscape
	zshWordEscape     = strings.NewReplacer(`\`, `\\`, ` `, `\ `, `(`, `\(`, `)`, `\)`).Replace
)
