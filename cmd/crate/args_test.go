package main

// Unit tests of the command line: how `crate run` arguments are split
// between crate and the container's command, and how errors become exit
// codes. No root needed.

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/crate-run/crate/pkg/initsync"
)

// newParser builds crate's kong parser as main does.
func newParser(t *testing.T) (*kong.Kong, *CLI) {
	t.Helper()
	cli := &CLI{}
	parser, err := kong.New(cli, kong.Name("crate"))
	if err != nil {
		t.Fatal(err)
	}
	return parser, cli
}

func TestSplitRunArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		want    string // the arguments kong gets
		command string // the container's command after parsing
		wantErr string // the split is refused with this in the message
	}{
		{
			name:    "docker form: flags before IMAGE, everything after it is the command",
			args:    "run --hostname box IMG sh -c x",
			want:    "run --hostname box IMG -- sh -c x",
			command: "sh -c x",
		},
		{
			name:    "original form: crate's flags after a one-word command are crate's",
			args:    "run IMG hostname --hostname box --memory 64 --cpu 50",
			want:    "run --hostname box --memory 64 --cpu 50 IMG -- hostname",
			command: "hostname",
		},
		{
			name:    "-- after IMAGE: the command may look like a crate flag",
			args:    "run IMG -- /bin/echo --memory",
			want:    "run IMG -- /bin/echo --memory",
			command: "/bin/echo --memory",
		},
		{
			name:    "crate's flags after the command's own arguments belong to the command",
			args:    "run IMG ls -l --memory 64",
			want:    "run IMG -- ls -l --memory 64",
			command: "ls -l --memory 64",
		},
		{
			name:    "a short flag after the command is the command's, even one crate has (-e)",
			args:    "run IMG echo -e x",
			want:    "run IMG -- echo -e x",
			command: "echo -e x",
		},
		{
			name:    "--memory=64 before IMAGE",
			args:    "run --memory=64 IMG sh",
			want:    "run --memory=64 IMG -- sh",
			command: "sh",
		},
		{
			name:    "--memory=64 in the original form",
			args:    "run IMG sh --memory=64 --cpu 50",
			want:    "run --memory=64 --cpu 50 IMG -- sh",
			command: "sh",
		},
		{
			name:    "short -e K=V before IMAGE",
			args:    "run -e K=V -w /srv IMG env",
			want:    "run -e K=V -w /srv IMG -- env",
			command: "env",
		},
		{
			name:    "short -eK=V in one word",
			args:    "run -eK=V IMG env",
			want:    "run -eK=V IMG -- env",
			command: "env",
		},
		{
			name:    "a boolean flag takes no value in the original form",
			args:    "run IMG sh --no-pivot --memory 64",
			want:    "run --no-pivot --memory 64 IMG -- sh",
			command: "sh",
		},
		{
			name:    "global flags before run",
			args:    "--log-level debug --root /tmp/x run IMG hostname",
			want:    "--log-level debug --root /tmp/x run IMG -- hostname",
			command: "hostname",
		},
		{
			name:    "original form, then -- and the command's arguments",
			args:    "run IMG echo --hostname box -- a --memory",
			want:    "run --hostname box IMG -- echo a --memory",
			command: "echo a --memory",
		},
		{
			name:    "-- between crate's flags and IMAGE",
			args:    "run --memory 64 -- IMG sh",
			want:    "run --memory 64 IMG -- sh",
			command: "sh",
		},
		{
			name: "no COMMAND is left for kong to report",
			args: "run --memory 64 IMG",
			want: "run --memory 64 IMG",
		},
		{
			name: "other commands pass through",
			args: "log --container abc --json",
			want: "log --container abc --json",
		},
		{
			name:    "a word after crate's trailing flags is refused",
			args:    "run IMG echo --hostname box hello",
			wantErr: `"hello" after crate's flags`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parser, cli := newParser(t)
			got, err := splitRunArgs(parser.Model.Node, strings.Fields(tt.args))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("splitRunArgs(%q) = %q, %v; want an error containing %q", tt.args, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("splitRunArgs(%q): %v", tt.args, err)
			}
			if !slices.Equal(got, strings.Fields(tt.want)) {
				t.Fatalf("splitRunArgs(%q)\n got  %q\n want %q", tt.args, got, strings.Fields(tt.want))
			}
			if tt.command == "" {
				return
			}
			// What kong makes of the split is what crate runs.
			if _, err := parser.Parse(got); err != nil {
				t.Fatalf("parse %q: %v", got, err)
			}
			if !slices.Equal(cli.Run.Command, strings.Fields(tt.command)) {
				t.Errorf("command %q, want %q", cli.Run.Command, strings.Fields(tt.command))
			}
		})
	}
}

// TestSplitRunArgsKeepsFlagValues checks that crate's flags keep their
// values through the split, in both forms.
func TestSplitRunArgsKeepsFlagValues(t *testing.T) {
	for _, args := range []string{
		"run --hostname box --memory 64 --cpu 50 --pids 10 -e A=1 IMG hostname",
		"run IMG hostname --hostname box --memory 64 --cpu 50 --pids 10 --env A=1",
	} {
		t.Run(args, func(t *testing.T) {
			parser, cli := newParser(t)
			split, err := splitRunArgs(parser.Model.Node, strings.Fields(args))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := parser.Parse(split); err != nil {
				t.Fatalf("parse %q: %v", split, err)
			}
			r := cli.Run
			if r.Hostname != "box" || r.Memory != "64" || r.CPU != "50" || r.Pids == nil || *r.Pids != 10 ||
				!slices.Equal(r.Env, []string{"A=1"}) || !slices.Equal(r.Command, []string{"hostname"}) {
				t.Errorf("parsed %+v", r)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	execFailed := func(errno syscall.Errno) error {
		return &initsync.InitError{Step: "exec", Errno: errno, Msg: "exec failed"}
	}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"command not found", execFailed(syscall.ENOENT), exitNotFound},
		{"command not executable", execFailed(syscall.EACCES), exitNotExecutable},
		{"command not a binary", execFailed(syscall.ENOEXEC), exitNotExecutable},
		{"command not found, wrapped", fmt.Errorf("start: %w", execFailed(syscall.ENOENT)), exitNotFound},
		{"command not found, already logged", loggedError{execFailed(syscall.ENOENT)}, exitNotFound},
		{"another step of init failed", &initsync.InitError{Step: "mount", Errno: syscall.ENOENT, Msg: "mount /proc"}, exitCrateFailed},
		{"plain error", errors.New("image x: truncated archive"), exitCrateFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{64 << 20, "64 MiB"},
		{2 << 30, "2 GiB"},
		{1536 << 20, "1536 MiB"}, // 1.5 GiB: said in the largest whole unit
		{512 << 10, "512 KiB"},
		{1 << 10, "1 KiB"},
		{1000, "1000 bytes"},
		{1<<20 + 1, "1048577 bytes"},
		{0, "0 bytes"},
	}
	for _, tt := range tests {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestApproxBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1982903: "1.9 MiB", 3 << 30: "3.0 GiB"} {
		if got := approxBytes(n); got != want {
			t.Errorf("approxBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestNegativeValues: a value that starts with '-' stays the flag's value.
func TestNegativeValues(t *testing.T) {
	parser, err := kong.New(&CLI{})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"run", "--pids", "-1", "img", "sh"},
		{"run", "img", "sh", "--pids", "-1"},
	} {
		got, err := splitRunArgs(parser.Model.Node, args)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(got, "--pids=-1") {
			t.Errorf("splitRunArgs(%q) = %q, want --pids=-1 kept together", args, got)
		}
	}
}

func TestCommandWord(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "img"}, "run"},
		{[]string{"--root", "/x", "run", "img"}, "run"},
		{[]string{"--root=/x", "--log-level", "debug", "ps", "-a"}, "ps"},
		{[]string{"--root", "run", "ps"}, "ps"},
		{[]string{"--help", "run"}, ""},
		{[]string{}, ""},
	} {
		if got := commandWord(c.args); got != c.want {
			t.Errorf("commandWord(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}

// TestGlobalsTakeValues: commandWord counts on every global flag taking a
// value.
func TestGlobalsTakeValues(t *testing.T) {
	typ := reflect.TypeFor[Globals]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Type.Kind() == reflect.String {
			continue
		}
		if f.Type.Kind() != reflect.Bool || !slices.Contains(boolGlobals, "--"+kebab(f.Name)) {
			t.Errorf("global flag %s is a %v: commandWord must learn to skip it (boolGlobals)", f.Name, f.Type)
		}
	}
}

// kebab is kong's flag name for a field name: SystemdCgroup, systemd-cgroup.
func kebab(name string) string {
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('-')
		}
		b.WriteRune(r | 0x20)
	}
	return b.String()
}
