package clidoc

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crate-run/crate/pkg/testutil"
)

// script writes app's completion script for shell to a file and returns its path.
func script(t *testing.T, shell string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Completion(toyApp(t), shell, &buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "toy."+shell)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// completionFiles makes a directory with a subdirectory "sub" and a file
// "subfile", to tell file from directory completion.
func completionFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "subfile"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bashComplete runs the bash script's completion function as bash would
// for the words of a command line, the last being the word at the cursor,
// and returns COMPREPLY sorted.
func bashComplete(t *testing.T, bash, script string, words ...string) []string {
	t.Helper()
	const run = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _toy; printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command(bash, append([]string{"--norc", "--noprofile", "-c", run, "bash", script}, words...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("complete %q: %v\n%s", words, err, stderr.String())
	}
	return sortedLines(string(out))
}

func sortedLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

func TestBashCompletion(t *testing.T) {
	bash := testutil.RequireTool(t, "bash", "bash")
	s := script(t, "bash")
	dir := completionFiles(t)
	tests := []struct {
		name  string
		words []string // the command line; the last is the word at the cursor
		want  []string
	}{
		{"commands", []string{"toy", ""}, []string{"b", "build", "remote"}},
		{"command prefix", []string{"toy", "re"}, []string{"remote"}},
		{"hidden command", []string{"toy", "se"}, nil},
		{"subcommands", []string{"toy", "remote", ""}, []string{"add", "rm"}},
		{"after a global flag", []string{"toy", "--config", "x", "-v", "remote", "r"}, []string{"rm"}},
		{"global flags", []string{"toy", "--co"}, []string{"--color", "--config"}},
		{"flags of a command and its parents", []string{"toy", "remote", "rm", "-"},
			[]string{"--color", "--config", "--force", "--help", "--verbose", "-f", "-h", "-v"}},
		{"no hidden flag", []string{"toy", "build", "--t"}, nil},
		{"negation", []string{"toy", "build", "-j", "4", "--no"}, []string{"--no-cache"}},
		{"enum value", []string{"toy", "--color", ""}, []string{"always", "auto", "never"}},
		{"enum value under a command", []string{"toy", "build", "--color", "a"}, []string{"always", "auto"}},
		{"enum value after = split by bash", []string{"toy", "--color", "=", "n"}, []string{"never"}},
		{"enum value at =", []string{"toy", "--color", "="}, []string{"always", "auto", "never"}},
		{"enum value in one word", []string{"toy", "--color=al"}, []string{"--color=always"}},
		{"directory flag", []string{"toy", "b", "--out", dir + "/su"}, []string{dir + "/sub"}},
		{"path flag", []string{"toy", "--config", dir + "/subf"}, []string{dir + "/subfile"}},
		{"positional args", []string{"toy", "build", "--jobs", "2", "tgt", dir + "/su"}, []string{dir + "/sub", dir + "/subfile"}},
		{"after --", []string{"toy", "build", "--", "-"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bashComplete(t, bash, s, tt.words...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("complete %q = %q, want %q", tt.words, got, tt.want)
			}
		})
	}
}

// TestFishCompletion asks fish itself what it completes: `complete -C LINE`
// prints each candidate, a tab, and its description.
func TestFishCompletion(t *testing.T) {
	fish := testutil.RequireTool(t, "fish", "fish")
	s := script(t, "fish")
	dir := completionFiles(t)
	tests := []struct {
		line string
		want []string
	}{
		{"toy ", []string{"b", "build", "remote"}},
		{"toy remote ", []string{"add", "rm"}},
		{"toy --co", []string{"--color", "--config"}},
		{"toy remote rm --f", []string{"--force"}},
		{"toy build --t", nil},
		{"toy build --color ", []string{"always", "auto", "never"}},
		{"toy --color never remote a", []string{"add"}},
		{"toy b --out " + dir + "/su", []string{dir + "/sub/"}},
		{"toy build tgt " + dir + "/su", []string{dir + "/sub/", dir + "/subfile"}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			out, err := exec.Command(fish, "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, s, tt.line).CombinedOutput()
			if err != nil {
				t.Fatalf("fish: %v\n%s", err, out)
			}
			var got []string
			for _, l := range sortedLines(string(out)) {
				got = append(got, strings.SplitN(l, "\t", 2)[0])
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("complete -C %q = %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}

// TestCompletionSyntax has each shell parse its script without running it.
func TestCompletionSyntax(t *testing.T) {
	shells := []struct{ shell, debianPackage string }{
		{"bash", "bash"},
		{"zsh", "zsh"},
		{"fish", "fish"},
	}
	for _, sh := range shells {
		t.Run(sh.shell, func(t *testing.T) {
			bin := testutil.RequireTool(t, sh.shell, sh.debianPackage)
			if out, err := exec.Command(bin, "-n", script(t, sh.shell)).CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("%s -n: %v\n%s", sh.shell, err, out)
			}
		})
	}
}

func TestCompletionScripts(t *testing.T) {
	tests := []struct {
		shell   string
		want    []string
		notWant []string
	}{
		{"bash", []string{"complete -F _toy toy\n", "'toy remote') REPLY=toy_remote", "REPLY='=auto always never'"}, []string{"secret", "tricky"}},
		{"zsh", []string{"#compdef toy\n", "_toy_remote_rm() {", "'--color=[When to color the output]:COLOR:(auto always never)'",
			"'(-j --jobs)'{'-j+','--jobs='}'[Jobs to run at once]:JOBS:_files'", "'--out=[Output directory]:DIR:_files -/'",
			"'--no-cache[Undo --cache]'", "':target:_files'", "'*:files:_files'", "build|b) _toy_build ;;", "compdef _toy toy"},
			[]string{"secret", "tricky"}},
		{"fish", []string{"complete -c toy -f\n", "complete -c toy -n '__toy_at toy_remote' -a 'rm' -d 'Remove a remote'",
			"complete -c toy -n '__toy_in toy' -l 'color' -r -f -a 'auto always never'"}, []string{"secret", "tricky"}},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Completion(toyApp(t), tt.shell, &buf); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("script lacks %q\n%s", w, buf.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(buf.String(), w) {
					t.Errorf("script has %q", w)
				}
			}
		})
	}
}

func TestCompletionUnknownShell(t *testing.T) {
	var buf bytes.Buffer
	if err := Completion(toyApp(t), "tcsh", &buf); err == nil || buf.Len() > 0 {
		t.Errorf("Completion(tcsh) = %v, wrote %d bytes; want an error and nothing", err, buf.Len())
	}
}

// TestZshQuoting checks the escapes of _arguments specs on help texts that
// need them.
func TestZshQuoting(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{zshBracketEscape("a [b] c"), `a \[b\] c`},
		{zshColonEscape("HOST:CONTAINER[:ro]"), `HOST\:CONTAINER[\:ro]`},
		{shQuote("crate's"), `'crate'\''s'`},
		{fishQuote(`it's a \`), `'it\'s a \\'`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
