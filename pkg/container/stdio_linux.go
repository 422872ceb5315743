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

import (
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
)

// relay copies between crate's terminals and the pipes the container got
// in their place.
type relay struct {
	theirs []*os.File    // the ends init gets: closed here once it has them
	copied chan struct{} // one value per output copy that has ended
	copies int           // output copies started
	log    hclog.Logger
}

// relayTerminals returns what init gets as its stdin (with interactive),
// stdout and stderr: crate's own, or, for each that is a terminal, a pipe
// relayed to it. r is nil when nothing is relayed.
func relayTerminals(log hclog.Logger, interactive bool) (stdin io.Reader, stdout, stderr io.Writer, r *relay, err error) {
	stdout, stderr = os.Stdout, os.Stderr
	r = &relay{copied: make(chan struct{}, 2), log: log}
	for _, o := range []struct {
		host *os.File
		to   *io.Writer
	}{{os.Stdout, &stdout}, {os.Stderr, &stderr}} {
		if !isTerminal(int(o.host.Fd())) {
			continue
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			r.abort()
			return nil, nil, nil, nil, err
		}
		r.theirs = append(r.theirs, pw)
		*o.to = pw
		r.copies++
		go func() {
			if _, err := io.Copy(o.host, pr); err != nil {
				log.Debug("copy the container's output to the terminal", "error", err)
				io.Copy(io.Discard, pr) // keep draining: a full pipe would block the command
			}
			pr.Close()
			r.copied <- struct{}{}
		}()
	}
	if interactive {
		stdin = os.Stdin
		if isTerminal(0) {
			pr, pw, err := os.Pipe()
			if err != nil {
				r.abort()
				return nil, nil, nil, nil, err
			}
			r.theirs = append(r.theirs, pr)
			stdin = pr
			// Never waited for: the read of the terminal blocks until a key
			// is pressed, and crate exits without it.
			go func() {
				io.Copy(pw, os.Stdin)
				pw.Close()
			}()
		}
	}
	if len(r.theirs) == 0 {
		return stdin, stdout, stderr, nil, nil
	}
	return stdin, stdout, stderr, r, nil
}

// started drops crate's copies of init's ends, once init has its own, so
// that the copies end when the container's last holder of them is gone.
func (r *relay) started() {
	if r == nil {
		return
	}
	for _, f := range r.theirs {
		f.Close()
	}
}

// abort closes init's ends when init was never started.
func (r *relay) abort() { r.started() }

// close waits until the container's output has been copied to its last
// byte: every process that held the pipes must be gone.
func (r *relay) close() {
	if r == nil {
		return
	}
	r.started() // a second Close is harmless
	for range r.copies {
		<-r.copied
	}
}
