package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crate-run/crate/pkg/clidoc"
	"github.com/crate-run/crate/pkg/testutil"
)

// visibleLeaves are the words of every command a user can run, as
// kong's model has them: "run", "image import", ...
func visibleLeaves(t *testing.T) []string {
	t.Helper()
	parser, _ := newParser(t)
	var out []string
	for _, n := range parser.Model.Node.Leaves(true) {
		out = append(out, n.Path())
	}
	return out
}

// TestManPagesCoverEveryCommand makes the pages from crate's real model
// and checks that each visible command has one and no hidden one has.
func TestManPagesCoverEveryCommand(t *testing.T) {
	parser, _ := newParser(t)
	pages, err := clidoc.ManPages(parser.Model, manOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"crate.1"}
	for _, words := range visibleLeaves(t) {
		want = append(want, "crate-"+strings.ReplaceAll(words, " ", "-")+".1")
	}
	for _, name := range want {
		if _, ok := pages[name]; !ok {
			t.Errorf("no page %s", name)
		}
	}
	if len(pages) != len(want) {
		t.Errorf("%d pages, want %d: %v", len(pages), len(want), want)
	}
	for _, hidden := range []string{"crate-man.1", "crate-supervise.1"} {
		if _, ok := pages[hidden]; ok {
			t.Errorf("page %s of a hidden command", hidden)
		}
	}
	if !slices.Contains(want, "crate-image-import.1") {
		t.Errorf("no page for crate image import among %v", want)
	}
	run := string(pages["crate-run.1"])
	for _, w := range []string{`\fB\-\-memory\fR=\fISIZE\fR`, `\fB\-d\fR, \fB\-\-detach\fR`, `One of: \fBoverlay\fR, \fBcopy\fR.`} {
		if !strings.Contains(run, w) {
			t.Errorf("crate-run.1 lacks %q", w)
		}
	}
	root := string(pages["crate.1"])
	for _, w := range []string{".SH \"FILES\"", `\fI/run/crate\fR`, `\fI/var/lib/crate\fR`, `\fI/var/log/crate/crate.log\fR`, ".SH \"EXIT STATUS\"", `\fB125\fR`} {
		if !strings.Contains(root, w) {
			t.Errorf("crate.1 lacks %q", w)
		}
	}
}

// TestManCommand runs `crate man DIR` and renders what it wrote.
func TestManCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	if out, err := exec.Command(crateBin, "man", dir).CombinedOutput(); err != nil {
		t.Fatalf("crate man: %v\n%s", err, out)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(visibleLeaves(t))+1 {
		t.Errorf("crate man wrote %d pages, want one per command and crate.1: %v", len(files), files)
	}
	groff := testutil.RequireTool(t, "groff", "groff-base")
	for _, f := range files {
		var out bytes.Buffer
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", f)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil || out.Len() > 0 {
			t.Errorf("groff %s: %v\n%s", filepath.Base(f), err, out.String())
		}
	}
}

// TestBashCompletionOfCrate sources `crate completion bash` and completes
// command lines as bash would.
func TestBashCompletionOfCrate(t *testing.T) {
	bash := testutil.RequireTool(t, "bash", "bash")
	script := filepath.Join(t.TempDir(), "crate.bash")
	out, err := exec.Command(crateBin, "completion", "bash").Output()
	if err != nil {
		t.Fatalf("crate completion bash: %v", err)
	}
	if err := os.WriteFile(script, out, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		words []string // the last is the word at the cursor
		want  []string
	}{
		{[]string{"crate", "r"}, []string{"resume", "rm", "run"}},
		{[]string{"crate", "oci"}, nil}, // the runc forms are hidden
		{[]string{"crate", "image", ""}, []string{"import", "ls", "prune", "rm"}},
		{[]string{"crate", "run", "--log-f"}, []string{"--log-file", "--log-format"}},
		{[]string{"crate", "run", "--storage", ""}, []string{"copy", "overlay"}},
		{[]string{"crate", "--log-format", ""}, []string{"json", "text"}},
		{[]string{"crate", "completion", ""}, []string{"bash", "fish", "zsh"}},
		{[]string{"crate", "run", "--me"}, []string{"--memory"}},
		{[]string{"crate", "su"}, nil}, // supervise is hidden
	}
	const run = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _crate; printf '%s\n' "${COMPREPLY[@]}"`
	for _, tt := range tests {
		cmd := exec.Command(bash, append([]string{"--norc", "--noprofile", "-c", run, "bash", script}, tt.words...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("complete %q: %v", tt.words, err)
		}
		got := strings.Fields(string(out))
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("complete %q = %q, want %q", tt.words, got, tt.want)
		}
	}
}

// TestCompletionScriptsParse has zsh and fish parse crate's scripts.
func TestCompletionScriptsParse(t *testing.T) {
	for _, sh := range []struct{ shell, debianPackage string }{{"zsh", "zsh"}, {"fish", "fish"}} {
		t.Run(sh.shell, func(t *testing.T) {
			bin := testutil.RequireTool(t, sh.shell, sh.debianPackage)
			script, err := exec.Command(crateBin, "completion", sh.shell).Output()
			if err != nil {
				t.Fatalf("crate completion %s: %v", sh.shell, err)
			}
			cmd := exec.Command(bin, "-n")
			cmd.Stdin = bytes.NewReader(script)
			if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("%s -n: %v\n%s", sh.shell, err, out)
			}
		})
	}
}
