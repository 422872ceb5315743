package clidoc

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crate-run/crate/pkg/testutil"
)

func TestManPageNames(t *testing.T) {
	pages, err := ManPages(toyApp(t), ManOptions{Version: "1.0", Date: "2025-01-02"})
	if err != nil {
		t.Fatal(err)
	}
	// The root, and each visible command without subcommands: not
	// toy-remote (it has some), not toy-secret (hidden).
	want := []string{"toy-build.1", "toy-remote-add.1", "toy-remote-rm.1", "toy.1"}
	if got := slices.Sorted(maps.Keys(pages)); !slices.Equal(got, want) {
		t.Errorf("pages = %v, want %v", got, want)
	}
}

func TestManPageContent(t *testing.T) {
	pages, err := ManPages(toyApp(t), ManOptions{
		Version:    "1.0",
		Date:       "2025-01-02",
		Summary:    "build toys",
		ExitStatus: []ExitStatus{{Code: "0", Meaning: "Built."}, {Code: "2", Meaning: "Bad input."}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		page    string
		want    []string
		notWant []string
	}{
		{
			page: "toy.1",
			want: []string{
				`.TH "TOY" "1" "2025-01-02" "toy 1.0" "User Commands"`,
				"toy \\- build toys\n",
				".SH \"COMMANDS\"\n.TP\n\\fBtoy build\\fR [\\fIoptions\\fR] \\fItarget\\fR [\\fIfiles\\fR ...]\n",
				`\fBtoy remote add\fR \fIname\fR \fIurl\fR`,
				".SH \"GLOBAL OPTIONS\"",
				`\fB\-v\fR, \fB\-\-verbose\fR`,
				`\fB\-\-config\fR=\fIFILE\fR`,
				`One of: \fBauto\fR, \fBalways\fR, \fBnever\fR.`,
				".SH \"EXIT STATUS\"\n.TP\n\\fB0\\fR\nBuilt.\n",
				// FILES: the default of each global flag of type path.
				".SH \"FILES\"\n.TP\n\\fI/etc/toy.conf\\fR\n",
				`\fBtoy\-remote\-rm\fR(1)`,
			},
			notWant: []string{"secret", "Secret"},
		},
		{
			page: "toy-build.1",
			want: []string{
				`.TH "TOY\-BUILD" "1"`,
				"toy\\-build \\- build a target\n",
				".SH \"SYNOPSIS\"\n\\fBtoy build\\fR [\\fIoptions\\fR] \\fItarget\\fR [\\fIfiles\\fR ...]\n",
				// The detailed help, escaped: a backslash, a hyphen, and
				// lines that start as requests would.
				`C:\ework \- or wherever.`,
				"\n\\&.TH this is not a request\n",
				"\n\\&'neither is this\n",
				"\n.PP\nA second paragraph.\n",
				".SH \"ARGUMENTS\"\n.TP\n\\fItarget\\fR\nWhat to build.\n",
				`\fB\-j\fR, \fB\-\-jobs\fR=\fI4\fR`,
				`Default: \fB4\fR.`,
				`\fB\-\-[no\-]cache\fR`,
				`\fB\-\-out\fR=\fIDIR\fR`,
				".SH \"GLOBAL OPTIONS\"\nThe global options of \\fBtoy\\fR(1) apply too:",
				".SH \"SEE ALSO\"\n\\fBtoy\\fR(1)\n",
			},
			notWant: []string{"tricky", `\fB\-v\fR, `, ".SH \"FILES\""}, // no global option described here
		},
		{
			page: "toy-remote-rm.1",
			want: []string{
				`\fBtoy remote rm\fR [\fIoptions\fR] \fIname\fR`,
				`\fB\-f\fR, \fB\-\-force\fR`,
				// Its siblings, found under toy remote.
				"\\fBtoy\\fR(1),\n\\fBtoy\\-remote\\-add\\fR(1)\n",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.page, func(t *testing.T) {
			page := string(pages[tt.page])
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q\n%s", w, page)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(page, w) {
					t.Errorf("page has %q\n%s", w, page)
				}
			}
		})
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"--memory", `\-\-memory`},
		{`C:\dir`, `C:\edir`},
		{`a\-b`, `a\e\-b`}, // the backslash is escaped before the hyphen
	}
	for _, tt := range tests {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSafeLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"text", "text"},
		{".SH x", `\&.SH x`},
		{"'br", `\&'br`},
		{"a.b", "a.b"},
		{"a\n.b", "a\n\\&.b"},
	}
	for _, tt := range tests {
		if got := safeLine(tt.in); got != tt.want {
			t.Errorf("safeLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNameLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Run a command in a new container.", "run a command in a new container"},
		{"PID 1 things. More.", "PID 1 things"},
		{"x", "x"},
	}
	for _, tt := range tests {
		if got := nameLine(tt.in); got != tt.want {
			t.Errorf("nameLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestManPagesRender renders every page with the formatters a reader's
// man uses and wants not one warning.
func TestManPagesRender(t *testing.T) {
	pages, err := ManPages(toyApp(t), ManOptions{Version: "1.0", Date: "2025-01-02"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, page := range pages {
		if err := os.WriteFile(filepath.Join(dir, name), page, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	renderers := []struct {
		name, tool, debianPackage string
		args                      []string
	}{
		// groff is what man-db's man runs; -ww turns on every warning.
		{"groff", "groff", "groff-base", []string{"-man", "-Tutf8", "-ww", "-z"}},
		// mandoc's lint knows the man macros' rules (section names, the
		// title line, the date) better than groff does.
		{"mandoc", "mandoc", "mandoc", []string{"-Tlint", "-W", "warning"}},
	}
	for _, r := range renderers {
		t.Run(r.name, func(t *testing.T) {
			tool := testutil.RequireTool(t, r.tool, r.debianPackage)
			for name := range pages {
				var out bytes.Buffer
				cmd := exec.Command(tool, append(r.args, filepath.Join(dir, name))...)
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil || out.Len() > 0 {
					t.Errorf("%s %s: %v\n%s", r.tool, name, err, out.String())
				}
			}
		})
	}

	// The page as man shows it: the escaped text comes out as written.
	t.Run("man", func(t *testing.T) {
		man := testutil.RequireTool(t, "man", "man-db")
		cmd := exec.Command(man, "-l", filepath.Join(dir, "toy-build.1"))
		cmd.Env = append(os.Environ(), "MANWIDTH=200")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("man -l toy-build.1: %v", err)
		}
		// Bold and underline come as overstrikes: x, backspace, x.
		out = regexp.MustCompile(".\x08").ReplaceAll(out, nil)
		for _, w := range []string{`C:\work - or wherever.`, ".TH this is not a request", "'neither is this", "--[no-]cache", "-j, --jobs=4"} {
			if !strings.Contains(string(out), w) {
				t.Errorf("man -l toy-build.1 lacks %q:\n%s", w, out)
			}
		}
	})
}
