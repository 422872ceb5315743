package clidoc

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/alecthomas/kong"
)

// writeFish writes the fish script: two lookup functions made of switch
// statements (which command a word selects, whether a flag takes a value),
// a function that walks the command line with them to the command reached,
// and one `complete` line per subcommand, flag and argument, each with a
// condition on that command.
func writeFish(b *bytes.Buffer, root *command) {
	name := root.words[0]
	fn := "__" + root.key
	fmt.Fprintf(b, "# fish completion for %s, generated from its command line by `%s completion fish`.\n", name, name)
	fmt.Fprintf(b, "# Load it with: %s completion fish | source\n\n", name)

	fmt.Fprintf(b, "# %s_child prints the command that word $argv[2] selects under command $argv[1].\n", fn)
	fmt.Fprintf(b, "function %s_child\n\tswitch \"$argv[1] $argv[2]\"\n", fn)
	walk(root, func(c *command) {
		for _, child := range c.children {
			var pats []string
			for _, w := range child.callNames() {
				pats = append(pats, fishQuote(c.key+" "+w))
			}
			fmt.Fprintf(b, "\t\tcase %s\n\t\t\techo %s\n\t\t\treturn 0\n", strings.Join(pats, " "), child.key)
		}
	})
	b.WriteString("\tend\n\treturn 1\nend\n\n")

	fmt.Fprintf(b, "# %s_takes_value succeeds if flag $argv[2] of command $argv[1] takes a value;\n", fn)
	fmt.Fprintf(b, "# a command's flag is its subcommands' too, hence KEY and KEY_*.\n")
	fmt.Fprintf(b, "function %s_takes_value\n\tswitch \"$argv[1] $argv[2]\"\n", fn)
	walk(root, func(c *command) {
		var pats []string
		for _, f := range c.flags {
			if takesValue(f) {
				for _, n := range flagNames(f) {
					pats = append(pats, fishQuote(c.key+" "+n), fishQuote(c.key+"_* "+n))
				}
			}
		}
		if len(pats) > 0 {
			fmt.Fprintf(b, "\t\tcase %s\n\t\t\treturn 0\n", strings.Join(pats, " "))
		}
	})
	b.WriteString("\tend\n\treturn 1\nend\n\n")

	b.WriteString(strings.NewReplacer("__FN", fn, "ROOT", root.key).Replace(fishMain))

	fmt.Fprintf(b, "complete -c %s -f\n", name) // no file names unless a line below says so
	walk(root, func(c *command) {
		at := fishQuote(fn + "_at " + c.key)
		in := fishQuote(fn + "_in " + c.key)
		for _, child := range c.children {
			for _, w := range child.callNames() {
				fmt.Fprintf(b, "complete -c %s -n %s -a %s -d %s\n", name, at, fishQuote(w), fishQuote(summary(child.node.Help)))
			}
		}
		for _, f := range c.flags {
			fmt.Fprintf(b, "complete -c %s -n %s%s -d %s\n", name, in, fishFlag(f), fishQuote(summary(f.Help)))
			if neg := negation(f); neg != "" {
				fmt.Fprintf(b, "complete -c %s -n %s -l %s -d %s\n", name, in, fishQuote(strings.TrimPrefix(neg, "--")), fishQuote("Undo --"+f.Name))
			}
		}
		if len(c.children) == 0 {
			for _, a := range c.node.Positional {
				fmt.Fprintf(b, "complete -c %s -n %s%s -d %s\n", name, at, fishValue(a), fishQuote(a.Name))
			}
		}
	})
}

// fishFlag is the part of a complete line that names a flag and says how
// its value completes.
func fishFlag(f *kong.Flag) string {
	var s string
	if f.Short != 0 {
		s += " -s " + fishQuote(string(f.Short))
	}
	s += " -l " + fishQuote(f.Name)
	for _, a := range f.Aliases {
		s += " -l " + fishQuote(a)
	}
	if takesValue(f) {
		s += " -r" + fishValue(f.Value)
	}
	return s
}

// fishValue is how a value completes: -a 'w1 w2' (and no files), -F for
// file names, or directory names.
func fishValue(v *kong.Value) string {
	switch kind, words := completion(v); kind {
	case completeWords:
		return " -f -a " + fishQuote(strings.Join(words, " "))
	case completeDirs:
		return " -f -a '(__fish_complete_directories)'"
	default:
		return " -F"
	}
}

// fishQuote quotes s for fish: in single quotes, where a backslash escapes
// a single quote and itself.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// fishMain walks the command line; __FN and ROOT are replaced by the
// functions' prefix and the root command's key.
const fishMain = `# __FN_node prints the command the words before the cursor have reached:
# a command word moves to that command, a flag that takes a value skips it,
# "--" ends the walk, and any other word is a positional argument.
function __FN_node
	set -l node ROOT
	set -l skip 0
	set -l nargs 0
	set -l child
	for word in (commandline -opc)[2..-1]
		if test $skip = 1
			set skip 0
			continue
		end
		switch $word
			case --
				break
			case '-*=*'
			case '-*'
				if __FN_takes_value $node $word
					set skip 1
				end
			case '*'
				if test $nargs = 0; and set child (__FN_child $node $word)
					set node $child
				else
					set nargs (math $nargs + 1)
				end
		end
	end
	echo $node
end

# __FN_at succeeds if the command line has reached command $argv[1];
# __FN_in, if it has reached it or one of its subcommands.
function __FN_at
	test (__FN_node) = $argv[1]
end

function __FN_in
	set -l node (__FN_node)
	test $node = $argv[1]; or string match -q -- "$argv[1]_*" $node
end

`
