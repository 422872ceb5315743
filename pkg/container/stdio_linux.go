package container

// Without -t, the command's standard streams are crate's own, handed on as
// they are: a pipe or a file costs nothing to pass. A terminal is not passed.
// A terminal is open for reading and writing whichever stream it is given
// as, so a container given the operator's terminal as its stdout could read
// what the operator types ahead for the next command, and with
// CAP_SYS_ADMIN push keystrokes into it (TIOCSTI) for the host's shell to
// run once crate exits. Each of crate's streams that is a terminal is
// relayed through a pipe instead, as docker run does without -t: the
// container gets the pipe's end, and crate copies between the pipe and its
// terminal. (With -t the container gets a pty of its own: tty_linux.go.)
//
// Once init has been reaped, the output is copied to the last byte that is
// in the pipes, and no further: a process crate exec started may have left
// a child behind in the container that still holds them, and crate exec
// must not wait for it.

import (
	"errors"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// relay copies between crate's terminals and the pipes the container got
// in their place.
type relay struct {
	log    hclog.Logger
	theirs []*os.File    // the ends init gets: closed here once it has them
	ended  [2]int        // a pipe: closing ended[1] tells the copies init is gone
	copied chan struct{} // one value per output copy that has ended
	copies int           // output copies started
}

// relayTerminals returns what init gets as its stdin (with interactive),
// stdout and stderr: crate's own, or, for each that is a terminal, a pipe
// relayed to it. r is nil when nothing is relayed.
func relayTerminals(log hclog.Logger, interactive bool) (stdin io.Reader, stdout, stderr io.Writer, r *relay, err error) {
	stdout, stderr = os.Stdout, os.Stderr
	if interactive {
		stdin = os.Stdin
	}
	if !isTerminal(0) && !isTerminal(1) && !isTerminal(2) {
		return stdin, stdout, stderr, nil, nil
	}
	r = &relay{log: log, copied: make(chan struct{}, 2)}
	if err := unix.Pipe2(r.ended[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, nil, nil, os.NewSyscallError("pipe2", err)
	}
	for _, o := range []struct {
		host *os.File
		to   *io.Writer
	}{{os.Stdout, &stdout}, {os.Stderr, &stderr}} {
		if !isTerminal(int(o.host.Fd())) {
			continue
		}
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			r.close()
			return nil, nil, nil, nil, os.NewSyscallError("pipe2", err)
		}
		w := os.NewFile(uintptr(p[1]), "stdout-relay")
		r.theirs = append(r.theirs, w)
		*o.to = w
		r.copies++
		go r.copyOut(p[0], o.host)
	}
	if interactive && isTerminal(0) {
		pr, pw, err := os.Pipe()
		if err != nil {
			r.close()
			return nil, nil, nil, nil, err
		}
		r.theirs = append(r.theirs, pr)
		stdin = pr
		// Never waited for: the read of the terminal blocks until a key is
		// pressed, and crate exits without it.
		go func() {
			io.Copy(pw, os.Stdin)
			pw.Close()
		}()
	}
	return stdin, stdout, stderr, r, nil
}

// copyOut copies what the container writes to the pipe fd to the terminal,
// until every holder of the pipe is gone, or, once init has been reaped,
// until the pipe has nothing more to give (see the top of this file).
func (r *relay) copyOut(fd int, to *os.File) {
	defer func() {
		unix.Close(fd)
		r.copied <- struct{}{}
	}()
	buf := make([]byte, 32<<10)
	ended := false
	for {
		if !ended {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(r.ended[0]), Events: unix.POLLIN}}
			if _, err := unix.Poll(fds, -1); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				r.log.Warn("wait for the container's output", "error", err)
				return
			}
			if fds[0].Revents == 0 {
				// Init is gone and nothing is waiting: read what is left
				// without waiting for more.
				ended = true
				if err := unix.SetNonblock(fd, true); err != nil {
					return
				}
				continue
			}
		}
		n, err := unix.Read(fd, buf)
		if n > 0 && to != nil {
			if _, werr := to.Write(buf[:n]); werr != nil {
				// Keep reading into nothing: a command whose output fills
				// the pipe would block for ever on its next write.
				r.log.Debug("copy the container's output to the terminal", "error", werr)
				to = nil
			}
		}
		switch {
		case errors.Is(err, unix.EINTR):
		case n <= 0:
			return // EOF, the end of what is left (EAGAIN), or an error
		}
	}
}

// started drops crate's copies of init's ends, once init has its own, so
// that the copies see the end when the container's last holder is gone.
func (r *relay) started() {
	if r == nil {
		return
	}
	for _, f := range r.theirs {
		f.Close()
	}
	r.theirs = nil
}

// close is called once init has been reaped (or was never started): it
// waits until the output in the pipes has been copied, then lets go.
func (r *relay) close() {
	if r == nil {
		return
	}
	r.started()
	unix.Close(r.ended[1])
	for range r.copies {
		<-r.copied
	}
	unix.Close(r.ended[0])
}
