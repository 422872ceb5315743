package main

// Terminals: -t and -i. The tests that need crate's own stdin to be a
// terminal run crate on a pty of their own (onTerminal): crate's session
// has it as controlling terminal, so a resize by the test makes the kernel
// send crate SIGWINCH, as a terminal emulator's would.

import (
	"bytes"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ttySession is `crate run` on a terminal the test holds the master of.
type ttySession struct {
	t      *testing.T
	e      *env
	cmd    *exec.Cmd
	name   string
	master *os.File
	before *unix.Termios // the terminal's mode before crate ran
	chunks chan []byte   // what crate writes to the terminal; closed at EIO
	seen   bytes.Buffer  // read but not yet consumed by expect, \r removed
}

// onTerminal starts `crate run ARGS...` with a new pty of rows x cols as its
// stdin, stdout, stderr and controlling terminal.
func (e *env) onTerminal(rows, cols uint16, args ...string) *ttySession {
	e.t.Helper()
	name := newName()
	return e.commandOnTerminal(rows, cols, name, append([]string{"run", "--name", name}, args...)...)
}

// commandOnTerminal starts any crate command on a new pty; name is the
// container whose leftovers end checks ("" for none).
func (e *env) commandOnTerminal(rows, cols uint16, name string, args ...string) *ttySession {
	e.t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { master.Close() })
	if err := pty.Setsize(master, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		e.t.Fatal(err)
	}
	s := &ttySession{t: e.t, e: e, master: master, name: name, chunks: make(chan []byte, 64)}
	// On a pty master, TCGETS reads the terminal's (the slave's) mode.
	if s.before, err = unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS); err != nil {
		e.t.Fatal(err)
	}
	s.cmd = e.command(args...)
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = slave, slave, slave
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := s.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	// Only crate holds the terminal now: the master reads EIO once it exits.
	slave.Close()
	e.t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	go func() {
		defer close(s.chunks)
		for {
			b := make([]byte, 4096)
			n, err := master.Read(b)
			if n > 0 {
				s.chunks <- b[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// expect reads the terminal until want has appeared, and returns everything
// up to and including it. Line ends are \n: the \r a terminal adds is dropped.
func (s *ttySession) expect(want string) string {
	s.t.Helper()
	for {
		if i := strings.Index(s.seen.String(), want); i >= 0 {
			return string(s.seen.Next(i + len(want)))
		}
		chunk, ok := <-s.chunks
		if !ok {
			s.t.Fatalf("crate's terminal closed before %q appeared; output: %q", want, s.seen.String())
		}
		s.seen.Write(bytes.ReplaceAll(chunk, []byte("\r"), nil))
	}
}

// send types keys on the terminal.
func (s *ttySession) send(keys string) {
	s.t.Helper()
	if _, err := s.master.Write([]byte(keys)); err != nil {
		s.t.Fatal(err)
	}
}

// resize resizes the terminal; the kernel sends crate SIGWINCH.
func (s *ttySession) resize(rows, cols uint16) {
	s.t.Helper()
	if err := pty.Setsize(s.master, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		s.t.Fatal(err)
	}
}

// end reads the terminal to its end and waits for crate; it returns crate's
// exit code and the output not yet consumed. It checks that crate left the
// terminal in the mode it found it in, and the container nothing behind.
func (s *ttySession) end() (int, string) {
	s.t.Helper()
	for chunk := range s.chunks {
		s.seen.Write(bytes.ReplaceAll(chunk, []byte("\r"), nil))
	}
	code := exitStatus(s.t, s.cmd, s.cmd.Wait())
	after, err := unix.IoctlGetTermios(int(s.master.Fd()), unix.TCGETS)
	if err != nil {
		s.t.Fatal(err)
	}
	if !reflect.DeepEqual(after, s.before) {
		s.t.Errorf("terminal mode not restored:\nbefore %+v\nafter  %+v", s.before, after)
	}
	s.e.noLeftovers(s.name)
	return code, s.seen.String()
}

// TestTerminal: the command gets a terminal of the host terminal's size with
// a name that exists, and all its output; crate gets its exit code and
// gives the terminal back as it was, in raw mode (-it) or not (-t).
func TestTerminal(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)
	script := `stty size; tty; [ -e "$(tty)" ] && echo tty-exists; [ -t 0 ] && echo stdin-is-tty
head -c 100000 /dev/zero | tr '\0' x; echo; echo last line; exit 3`
	for _, flags := range [][]string{{"-it"}, {"-t"}, {"--init", "-it"}} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			s := e.onTerminal(33, 111, append(flags, img, "/bin/sh", "-c", script)...)
			code, out := s.end()
			want := "33 111\n/dev/console\ntty-exists\nstdin-is-tty\n" + strings.Repeat("x", 100000) + "\nlast line\n"
			if code != 3 || out != want {
				t.Errorf("exit %d, want 3; output (%d bytes, want %d):\n%.300q", code, len(out), len(want), out)
			}
		})
	}
}

// TestTerminalResize: a resize of the host terminal reaches the container
// while it runs, through crate's SIGWINCH and the kernel's to the
// container's foreground group; and what is typed reaches the command. The
// shell traps WINCH, so the test waits on its output, not on time.
func TestTerminalResize(t *testing.T) {
	e := newEnv(t)
	s := e.onTerminal(24, 80, "-it", busyboxImage(t), "/bin/sh", "-c",
		`trap 'stty size; exit 7' WINCH; echo ready; read line; echo "got $line"; sleep 1000 & wait`)
	s.expect("ready\n")
	s.send("hello\n")
	s.expect("got hello\n")
	s.resize(50, 132)
	s.expect("50 132\n")
	if code, _ := s.end(); code != 7 {
		t.Errorf("exit %d, want 7", code)
	}
}

// TestTerminalKeys: Ctrl-C and Ctrl-Z, typed on the host terminal, reach the
// container's foreground process as SIGINT and SIGTSTP from its own
// terminal, with and without --init; an interactive shell has job control.
func TestTerminalKeys(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)
	t.Run("ctrl-c to the shell as PID 1", func(t *testing.T) {
		s := e.onTerminal(24, 80, "-it", img, "/bin/sh", "-c",
			`trap 'echo interrupted; exit 5' INT; echo ready; sleep 1000 & wait`)
		s.expect("ready\n")
		s.send("\x03")
		s.expect("interrupted\n")
		if code, _ := s.end(); code != 5 {
			t.Errorf("exit %d, want 5", code)
		}
	})
	t.Run("ctrl-c with --init", func(t *testing.T) {
		// The command is in a process group of its own, which must be the
		// terminal's foreground group for the key to reach it.
		s := e.onTerminal(24, 80, "--init", "-it", img, "/bin/sh", "-c", `echo ready; read line; echo "got $line"; exec sleep 1000`)
		s.expect("ready\n")
		s.send("hello\n") // a background group would be stopped reading
		s.expect("got hello\n")
		s.send("\x03")
		if code, _ := s.end(); code != 128+int(syscall.SIGINT) {
			t.Errorf("exit %d, want %d", code, 128+int(syscall.SIGINT))
		}
	})
	t.Run("ctrl-z in an interactive shell", func(t *testing.T) {
		s := e.onTerminal(24, 80, "-it", img, "/bin/sh")
		s.expect("# ")
		// The quotes keep the echo of the typed line from matching.
		s.send("sh -c 'echo sle''eping; read x; echo go''t $x'\n")
		s.expect("sleeping\n")
		s.send("\x1a") // SIGTSTP to the job, now the foreground group
		s.expect("Stopped")
		// fg makes the job the foreground group again before it goes on:
		// the line typed after it is the job's, which the shell no longer
		// reads once it has echoed "fg".
		s.send("fg\n")
		s.expect("fg\n")
		s.send("hello\n")
		s.expect("got hello\n")
		s.expect("# ")
		s.send("exit 4\n")
		if code, _ := s.end(); code != 4 {
			t.Errorf("exit %d, want 4", code)
		}
	})
}

// TestStdin: the container reads crate's stdin with -i, and /dev/null
// without (as docker run): `cat` ends at once though crate's stdin stays open.
func TestStdin(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)
	tests := []struct {
		name  string
		args  []string
		input string
		want  string
	}{
		{"-i pipes stdin", []string{"-i", img, "cat"}, "hello\nworld\n", "hello\nworld\n"},
		{"without -i, EOF at once", []string{img, "/bin/sh", "-c", "cat; echo eof"}, "never read\n", "eof\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// With -i, the input then EOF; without, the pipe stays open
			// until crate is done, so only /dev/null can end cat.
			w.Write([]byte(tt.input))
			if tt.args[0] == "-i" {
				w.Close()
			} else {
				defer w.Close()
			}
			name := newName()
			cmd := e.command(append([]string{"run", "--name", name}, tt.args...)...)
			cmd.Stdin = r
			res := e.finish(cmd, name)
			e.noLeftovers(name)
			if res.code != 0 || res.stdout != tt.want {
				t.Errorf("exit %d, stdout %q; want 0, %q\nstderr: %s", res.code, res.stdout, tt.want, res.stderr)
			}
		})
	}
}

// TestTerminalWithoutHostTerminal: -t needs no terminal on crate's side (the
// pty is 24x80 then), as with docker run; -it does, since keys are read one
// by one in raw mode, and is refused before anything is made.
func TestTerminalWithoutHostTerminal(t *testing.T) {
	e := newEnv(t)
	img := busyboxImage(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "-t", args: []string{"-t", img, "/bin/sh", "-c", "stty size; tty; [ -t 0 ] && echo stdin-is-tty"},
			stdout: "24 80\n/dev/console\nstdin-is-tty\n"},
		{name: "-it", args: []string{"-it", img, "true"}, code: 125, stderr: "the input device is not a terminal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(tt.args...) // crate's stdin is /dev/null
			stdout := strings.ReplaceAll(r.stdout, "\r", "")
			if r.code != tt.code || stdout != tt.stdout || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", r.code, stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestExecLeavesAChildOnTheTerminal: without -t, crate exec relays its
// terminal through a pipe; a child the command leaves behind in the
// container still holds that pipe, and crate exec must end with the command
// all the same, with all the command wrote.
func TestExecLeavesAChildOnTheTerminal(t *testing.T) {
	e := newEnv(t)
	name := e.detach(busyboxImage(t), "sleep", "1000")
	s := e.commandOnTerminal(24, 80, "", "exec", name, "sh", "-c", "sleep 1000 & echo left a child; exit 3")
	s.expect("left a child\n")
	if code, _ := s.end(); code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
}
