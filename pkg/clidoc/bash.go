package clidoc

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/alecthomas/kong"
)

// writeBash writes the bash script. The model becomes three lookup
// functions made of case statements (which command a word selects, how a
// flag's value completes, what may follow a command), and one fixed
// function, _NAME, walks the words before the cursor with them.
//
// How a value completes is written "=w1 w2" (these words), "@files" or
// "@dirs", so that one string can say it.
func writeBash(b *bytes.Buffer, root *command) {
	name := root.words[0]
	fn := "_" + root.key
	fmt.Fprintf(b, "# bash completion for %s, generated from its command line by `%s completion bash`.\n", name, name)
	fmt.Fprintf(b, "# Load it with: source <(%s completion bash)\n\n", name)

	fmt.Fprintf(b, "# %s_child sets REPLY to the command that word $2 selects under command $1,\n", fn)
	fmt.Fprintf(b, "# or fails if $2 selects none.\n")
	fmt.Fprintf(b, "%s_child() {\n\tcase \"$1 $2\" in\n", fn)
	walk(root, func(c *command) {
		for _, child := range c.children {
			var pats []string
			for _, w := range child.callNames() {
				pats = append(pats, shQuote(c.key+" "+w))
			}
			fmt.Fprintf(b, "\t%s) REPLY=%s ;;\n", strings.Join(pats, "|"), child.key)
		}
	})
	b.WriteString("\t*) return 1 ;;\n\tesac\n}\n\n")

	fmt.Fprintf(b, "# %s_value sets REPLY to how the value of flag $2 of command $1 completes,\n", fn)
	fmt.Fprintf(b, "# or fails if the flag takes no value. A flag of a command is accepted by its\n")
	fmt.Fprintf(b, "# subcommands too, hence the patterns KEY and KEY_*.\n")
	fmt.Fprintf(b, "%s_value() {\n\tcase \"$1 $2\" in\n", fn)
	walk(root, func(c *command) {
		for _, f := range c.flags {
			if !takesValue(f) {
				continue
			}
			var pats []string
			for _, n := range flagNames(f) {
				pats = append(pats, shQuote(c.key+" "+n), c.key+"_*"+shQuote(" "+n))
			}
			fmt.Fprintf(b, "\t%s) REPLY=%s ;;\n", strings.Join(pats, "|"), shQuote(bashHow(f.Value)))
		}
	})
	b.WriteString("\t*) return 1 ;;\n\tesac\n}\n\n")

	fmt.Fprintf(b, "# %s_node sets what may follow command $1: cmds, its subcommands; flags,\n", fn)
	fmt.Fprintf(b, "# its flags and its parents'; args, how each positional argument completes.\n")
	fmt.Fprintf(b, "%s_node() {\n\tcmds= flags= args=()\n\tcase $1 in\n", fn)
	walk(root, func(c *command) {
		fmt.Fprintf(b, "\t%s)\n", c.key)
		if words := commandWords(c); len(words) > 0 {
			fmt.Fprintf(b, "\t\tcmds=%s\n", shQuote(strings.Join(words, " ")))
		}
		if flags := allFlagNames(c); len(flags) > 0 {
			fmt.Fprintf(b, "\t\tflags=%s\n", shQuote(strings.Join(flags, " ")))
		}
		if len(c.node.Positional) > 0 {
			var args []string
			for _, a := range c.node.Positional {
				args = append(args, shQuote(bashHow(a)))
			}
			fmt.Fprintf(b, "\t\targs=(%s)\n", strings.Join(args, " "))
		}
		b.WriteString("\t\t;;\n")
	})
	b.WriteString("\tesac\n}\n\n")

	b.WriteString(strings.NewReplacer("_NAME", fn, "NAME", name, "ROOT", root.key).Replace(bashMain))
}

// bashHow says how a value completes in the notation of the bash script.
func bashHow(v *kong.Value) string {
	switch kind, words := completion(v); kind {
	case completeWords:
		return "=" + strings.Join(words, " ")
	case completeDirs:
		return "@dirs"
	default:
		return "@files"
	}
}

// bashMain is the part of the bash script that does not depend on the
// model: _NAME, NAME and ROOT are replaced by the completion function, the
// program's name and the root command's key.
const bashMain = `# _NAME_complete sets COMPREPLY to the completions of $2 as $1 says.
_NAME_complete() {
	case $1 in
	=*) mapfile -t COMPREPLY < <(compgen -W "${1#=}" -- "$2") ;;
	@dirs)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -d -- "$2")
		;;
	*)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$2")
		;;
	esac
}

_NAME() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local node=ROOT word i nargs=0 dashdash= REPLY cmds flags args
	COMPREPLY=()

	# Walk the words before the cursor: a command word moves to that
	# command, a flag that takes a value skips the value, "--" ends the
	# flags, and any other word is a positional argument.
	for ((i = 1; i < COMP_CWORD; i++)); do
		word=${COMP_WORDS[i]}
		if [[ -n $dashdash ]]; then
			nargs=$((nargs + 1))
			continue
		fi
		case $word in
		--) dashdash=1 ;;
		-*=*) ;;
		-*)
			if _NAME_value "$node" "$word"; then
				# The value is the next word, or the one after "=" when
				# bash split --flag=value at the "=" (COMP_WORDBREAKS).
				if [[ ${COMP_WORDS[i+1]} == = ]]; then
					i=$((i + 2))
				else
					i=$((i + 1))
				fi
			fi
			;;
		*)
			if ((nargs == 0)) && _NAME_child "$node" "$word"; then
				node=$REPLY
			else
				nargs=$((nargs + 1))
			fi
			;;
		esac
	done
	_NAME_node "$node"

	# The value of a flag: after "--flag ", after "--flag=" (which bash
	# splits into "--flag" "=" unless "=" is not in COMP_WORDBREAKS), or in
	# one word "--flag=val".
	local flag= prefix=$cur
	if [[ -z $dashdash ]]; then
		if [[ $cur == = ]]; then
			flag=$prev prefix=
		elif [[ $prev == = ]]; then
			flag=${COMP_WORDS[COMP_CWORD-2]}
		elif [[ $cur == -*=* ]]; then
			flag=${cur%%=*} prefix=${cur#*=}
		elif [[ $prev == -* ]]; then
			flag=$prev
		fi
	fi
	if [[ -n $flag ]] && _NAME_value "$node" "$flag"; then
		_NAME_complete "$REPLY" "$prefix"
		if [[ $cur == -*=* ]]; then
			COMPREPLY=("${COMPREPLY[@]/#/$flag=}")
		fi
		return
	fi

	if [[ -z $dashdash && $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$flags" -- "$cur")
	elif ((nargs == 0)) && [[ -n $cmds ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$cmds" -- "$cur")
	elif ((nargs < ${#args[@]})); then
		_NAME_complete "${args[nargs]}" "$cur"
	else
		_NAME_complete @files "$cur"
	fi
}

complete -F _NAME NAME
`
