package container

// With -t (docker run -t), the command's stdin, stdout and stderr are a new
// pseudo-terminal, and it is the controlling terminal of init's session:
//
//	host terminal (crate's stdin/stdout)            container
//	  keys ──(-i: copied as they are)──▶ master ═══ slave ──▶ fd 0, 1, 2 of init
//	  screen ◀──(copied until EIO)───── master ═══ slave ◀── and the command
//
// The pair is opened on the host, in the host's /dev/pts, before init
// exists, so that init inherits the slave as plain descriptors and takes it
// as its controlling terminal when it is started (Setsid, Setctty). The
// container's own devpts instance, mounted later by init, knows nothing of
// it; the slave is bind-mounted on /dev/console instead, as Docker does, so
// that the terminal has a name inside the container: `tty` prints
// /dev/console.
//
// The container's line discipline does the terminal's work: with -i the
// host terminal is put in raw mode, so Ctrl-C and Ctrl-Z arrive as bytes
// (0x03, 0x1a) that the container's pty turns into SIGINT and SIGTSTP for
// its foreground process group, exactly as a terminal on the host would.
// The host terminal's mode is restored on every way out of Run.
//
// Without -i the slave is still the command's stdin, as with docker run -t,
// but nothing is ever written to it; the host terminal stays as it is, and a
// Ctrl-C there reaches crate, which forwards it as without -t.
//
// The window size is copied from the host terminal at the start and on
// every SIGWINCH crate gets; setting it on the pty makes the kernel send
// SIGWINCH to the container's foreground process group itself.

import (
	"errors"
	"io"
	"os"
	"sync"

	"github.com/creack/pty"
	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultSize is the window size of a pty when crate has no terminal to copy
// it from: the classic one, as Docker gives.
var defaultSize = pty.Winsize{Rows: 24, Cols: 80}

// terminal is the pty of a container started with -t.
type terminal struct {
	master *os.File // the supervisor's side
	slave  *os.File // init's side: the supervisor's copy is closed once init has its own
	host   int      // the host terminal the window size is copied from, or -1

	raw       *unix.Termios // crate's stdin's mode before raw mode, if it was made raw
	restoring sync.Once
	copied    chan struct{} // closed once the master's output is copied to the end; nil before copying
}

// openTerminal opens a pty pair and gives it the host terminal's window
// size (or 24x80 if crate has no terminal).
func openTerminal() (*terminal, error) {
	master, slave, err := pty.Open()
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/dev/ptmx", Err: err}
	}
	t := &terminal{master: master, slave: slave, host: -1}
	// The size follows whichever of crate's standard streams is a terminal,
	// stdin first, as a shell's `stty size` would.
	for _, fd := range []int{0, 1, 2} {
		if isTerminal(fd) {
			t.host = fd
			break
		}
	}
	if err := t.resize(); err != nil {
		master.Close()
		slave.Close()
		return nil, err
	}
	return t, nil
}

// consoleMount bind-mounts the slave on the container's /dev/console
// (mounted by init with the volumes, see pkg/initproc), so that the
// command's terminal has a name that exists in the container.
func (t *terminal) consoleMount() specs.Mount {
	return specs.Mount{Destination: "/dev/console", Type: "bind", Source: t.slave.Name(),
		Options: []string{"bind", "nosuid", "noexec"}}
}

// started is called once init holds its copies of the slave. It drops the
// supervisor's, so that the master reads EIO when the container's last
// holder of the slave is gone, then copies the output, and with interactive
// puts crate's terminal in raw mode and copies its stdin in.
func (t *terminal) started(log hclog.Logger, interactive bool, out io.Writer) {
	t.slave.Close()
	t.copied = make(chan struct{})
	go t.copyOut(log, out)
	if !interactive {
		return
	}
	if isTerminal(0) {
		if err := t.makeRaw(0); err != nil {
			log.Warn("put the terminal in raw mode", "error", err)
		}
	}
	// Never waited for: the read of crate's stdin blocks until a key is
	// pressed, and crate exits without it.
	go func() {
		if _, err := io.Copy(t.master, os.Stdin); err != nil {
			log.Debug("copy stdin to the container's terminal", "error", err)
		}
	}()
}

// copyOut copies what the container writes to its terminal to w until every
// descriptor of the slave is closed. The master then reads EIO, after the
// last byte the command wrote: that is the normal end.
func (t *terminal) copyOut(log hclog.Logger, w io.Writer) {
	defer close(t.copied)
	buf := make([]byte, 32<<10)
	for {
		n, err := t.master.Read(buf)
		if n > 0 && w != nil {
			if _, werr := w.Write(buf[:n]); werr != nil {
				// Keep reading into nothing: a command whose terminal
				// fills up would block for ever on its next write.
				log.Debug("copy the container's terminal", "error", werr)
				w = nil
			}
		}
		if err != nil {
			if !errors.Is(err, unix.EIO) {
				log.Warn("read the container's terminal", "error", err)
			}
			return
		}
	}
}

// resize gives the pty the host terminal's window size, or 24x80 if there
// is none or it has none (a fresh pty is 0x0, which `stty size` refuses).
// The kernel sends SIGWINCH to the container's foreground process group
// when the size changes.
func (t *terminal) resize() error {
	size := &defaultSize
	if t.host >= 0 {
		ws, err := unix.IoctlGetWinsize(t.host, unix.TIOCGWINSZ)
		if err != nil {
			return os.NewSyscallError("ioctl TIOCGWINSZ", err)
		}
		if ws.Row > 0 && ws.Col > 0 {
			size = &pty.Winsize{Rows: ws.Row, Cols: ws.Col, X: ws.Xpixel, Y: ws.Ypixel}
		}
	}
	if err := pty.Setsize(t.master, size); err != nil {
		return os.NewSyscallError("ioctl TIOCSWINSZ", err)
	}
	return nil
}

// makeRaw puts the terminal fd in raw mode, as cfmakeraw(3) does: no echo,
// no line editing, no signals from keys, no output processing. The
// container's pty does all of that instead.
func (t *terminal) makeRaw(fd int) error {
	saved, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return os.NewSyscallError("ioctl TCGETS", err)
	}
	raw := *saved
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return os.NewSyscallError("ioctl TCSETS", err)
	}
	t.raw = saved
	return nil
}

// restore gives crate's terminal back the mode it had, once. It is safe on
// a nil terminal and from a deferred call during a panic.
func (t *terminal) restore() {
	if t == nil {
		return
	}
	t.restoring.Do(func() {
		if t.raw != nil {
			unix.IoctlSetTermios(0, unix.TCSETS, t.raw)
		}
	})
}

// close waits until the container's output is copied to its last byte
// (every process that held the slave must be gone: init has been reaped),
// then closes the master and restores crate's terminal.
func (t *terminal) close() {
	if t == nil {
		return
	}
	if t.copied == nil {
		t.slave.Close() // init never got it
	} else {
		<-t.copied
	}
	t.master.Close()
	t.restore()
}

// isTerminal reports whether fd is a terminal.
func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
