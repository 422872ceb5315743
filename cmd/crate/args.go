package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
)

// splitRunArgs rewrites the arguments of `crate run` into the one form kong
// parses: `run [FLAGS] IMAGE -- COMMAND [ARG...]`. Everything after IMAGE is
// the command's, as with docker run, with one exception kept for the original
// form `crate run IMAGE COMMAND --hostname box --memory 64`: when crate's own
// long flags follow a single-word COMMAND directly, they are crate's, up to
// `--`. So `crate run img ls -l` runs `ls -l`, and
// `crate run img -- /bin/echo --memory` prints `--memory`.
// `crate exec [FLAGS] CONTAINER COMMAND...` is split the same way, without
// the exception.
func splitRunArgs(root *kong.Node, args []string) ([]string, error) {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		i += 1 + flagValues(root, args[i]) // crate's global flags before the command
	}
	if i >= len(args) || (args[i] != "run" && args[i] != "exec") {
		return args, nil
	}
	verb := args[i]
	var run *kong.Node
	for _, child := range root.Children {
		if child.Name == verb {
			run = child
		}
	}
	out := append([]string{}, args[:i+1]...)
	rest := args[i+1:]

	// crate's flags, then IMAGE.
	j := 0
	for j < len(rest) && strings.HasPrefix(rest[j], "-") && rest[j] != "--" {
		n := 1 + flagValues(run, rest[j])
		out = append(out, joinValue(rest[j:min(j+n, len(rest))])...)
		j += n
	}
	if j < len(rest) && rest[j] == "--" {
		j++ // `crate run [FLAGS] -- IMAGE COMMAND...` is just as clear
	}
	if j >= len(rest) {
		return out, nil // no IMAGE: kong says what is missing
	}
	image := rest[j]
	j++
	if j < len(rest) && rest[j] == "--" {
		return append(append(out, image, "--"), rest[j+1:]...), nil
	}
	if j >= len(rest) {
		return append(out, image), nil // no COMMAND: kong says so
	}
	command := []string{rest[j]}
	j++

	// The original form: crate's long flags right after COMMAND.
	if verb == "run" && j < len(rest) && isLongFlag(run, rest[j]) {
		for j < len(rest) {
			a := rest[j]
			if a == "--" {
				command = append(command, rest[j+1:]...)
				break
			}
			if !isLongFlag(run, a) {
				return nil, fmt.Errorf("run: %q after crate's flags: put the command's arguments before crate's flags, or after --", a)
			}
			n := 1 + flagValues(run, a)
			out = append(out, joinValue(rest[j:min(j+n, len(rest))])...)
			j += n
		}
	} else {
		command = append(command, rest[j:]...)
	}
	return append(append(out, image, "--"), command...), nil
}

// commandWord is the command args name (run, ps, ...): the first argument
// that is neither one of crate's global flags nor its value.
func commandWord(args []string) string {
	if i := commandIndex(args); i >= 0 {
		return args[i]
	}
	return ""
}

// boolGlobals are the global flags that take no value; every other one does
// (TestGlobalsTakeValues), so one without "=" is followed by it.
var boolGlobals = []string{"--debug", "--systemd-cgroup"}

// commandIndex is where commandWord is in args, or -1.
func commandIndex(args []string) int {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case !strings.HasPrefix(a, "-"):
			return i
		case a == "--" || a == "-h" || a == "--help":
			return -1
		case slices.Contains(boolGlobals, a):
		case !strings.Contains(a, "="):
			i++
		}
	}
	return -1
}

// findFlag finds the flag that arg (like --memory=64, --memory, -e) names
// among node's flags and its parents'.
func findFlag(node *kong.Node, arg string) *kong.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	long := strings.HasPrefix(arg, "--")
	for _, group := range node.AllFlags(false) {
		for _, f := range group {
			if long && f.Name == name {
				return f
			}
			if !long && len(name) == 1 && f.Short == rune(name[0]) {
				return f
			}
		}
	}
	return nil
}

// flagValues is how many of the following arguments the flag arg consumes:
// 1 for a flag that takes a value given separately, else 0.
func flagValues(node *kong.Node, arg string) int {
	f := findFlag(node, arg)
	if f == nil || f.IsBool() || strings.Contains(arg, "=") {
		return 0
	}
	if !strings.HasPrefix(arg, "--") && len(arg) > 2 {
		return 0 // -eKEY=VALUE
	}
	return 1
}

// isLongFlag reports whether arg is one of crate's --long flags.
func isLongFlag(node *kong.Node, arg string) bool {
	return strings.HasPrefix(arg, "--") && arg != "--" && findFlag(node, arg) != nil
}

// joinValue writes a flag and its separate value as one --flag=value when
// the value starts with '-', so that `--pids -1` is not read as two flags.
func joinValue(flag []string) []string {
	if len(flag) == 2 && strings.HasPrefix(flag[1], "-") && strings.HasPrefix(flag[0], "--") {
		return []string{flag[0] + "=" + flag[1]}
	}
	return flag
}
