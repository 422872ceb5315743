// Package initsync is the protocol between the supervisor (crate) and crate-init:
// the file descriptors init is started with and the messages sent over the sync
// socket. Both sides import it, so it depends on the standard library only.
//
//	supervisor (crate)                          init (crate-init)
//	------------------                          -----------------
//	start init in its cgroup with fds 3 (spec), 4 (sync), 5 (log),
//	6 (network namespace; for crate exec, a pidfd of the container's
//	PID 1)
//	write spec to fd 3, close it  ------------> read spec until EOF
//	SendGo  ---------------- go ------------->  WaitGo
//	                                            join the network namespace,
//	                                            unshare cgroup ns, mounts,
//	                                            hostname, root switch, chdir
//	                                            (crate exec: join PID 1's
//	                                            namespaces, its mount
//	                                            namespace's root, chdir,
//	                                            and fork the command)
//	WaitExec <------ error{step,errno,msg} ---  Fail        (on any failure)
//	WaitExec <------------ exec --------------  Executing   (the command found)
//	WaitExec <------------- EOF --------------  execve      (fd 4 is close-on-exec)
//
// OCI create splits the start in two, because its caller wants the
// container made and its command not yet running, and create exits:
//
//	crate create                                init
//	WaitCreated <------- created -------------  AwaitStart: close fd 4,
//	(exits; init is its caller's now)            accept on the start socket
//	crate start: connect, SendGo ---- go ---->  (the same init, at the gate)
//	crate start: WaitExec <--- exec, EOF -----  execve
//
// Every message is a 4-byte big-endian length followed by that many bytes of
// JSON. EOF after exec means execve succeeded: the kernel closed init's end
// of the socket. (With --init, and for crate exec, init sends exec and
// closes the socket itself once its child has exec'ed the command.) A
// process's descriptors also close when it dies: EOF, or ECONNRESET when go
// was still unread, before exec means that init died before the command
// started (WaitExec's ErrInitDied) — killed by a signal, by the OOM killer,
// or ended by its Go runtime when it could not start a thread.
package initsync

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// The descriptors crate-init is started with, beyond stdin, stdout and stderr.
// They are ExtraFiles[0..] of os/exec, which puts them at 3 and up.
const (
	SpecFd = 3 // read end of a pipe carrying the runtime spec as JSON
	SyncFd = 4 // init's end of the sync socket (a socketpair)
	LogFd  = 5 // write end of a pipe for init's JSON log lines

	// FirstExtraFd is where the descriptors the spec names begin: the
	// namespaces init joins (crate run's network namespace; an OCI
	// bundle's namespace paths) and the listening socket OCI start
	// connects to. The spec says which is which (see spec.WriteInit).
	FirstExtraFd = 6

	// For crate exec, init joins a running container instead:
	PidFd = 6 // a pidfd of the container's PID 1, whose namespaces init joins
)

// StepExec is the step of init's execve, and of everything that decides
// whether the command can run (finding it, its interpreter): the
// supervisor tells a command that cannot be executed (126, 127) from a
// failure of the runtime by it.
const StepExec = "exec"

// Kind names a message; one enum for both directions.
type Kind string

const (
	// KindGo is sent by the supervisor once init sits in its cgroup.
	KindGo Kind = "go"
	// KindError is sent by init when a step fails; init exits right after.
	KindError Kind = "error"
	// KindExec is init's last word: it is executing the command (with
	// --init and for crate exec, the command runs). An error may still
	// follow, if execve fails.
	KindExec Kind = "exec"
	// KindCreated is init's word to OCI create: the container is built and
	// init waits at the start gate, a listening socket, for OCI start to
	// connect and send go; the rest of the exchange (exec, or an error)
	// goes to start, over that connection.
	KindCreated Kind = "created"
	// KindConsole comes with the master of the container's terminal, which
	// init opened in the container's own /dev/pts, as its one SCM_RIGHTS
	// descriptor (OCI create with process.terminal).
	KindConsole Kind = "console"
)

// ErrInitDied is WaitExec's error when init's end of the socket closed
// before init said it was executing the command: init died before the
// command started, without a word.
var ErrInitDied = errors.New("crate-init died before the command started")

// Message is what travels on the sync socket.
type Message struct {
	Kind  Kind   `json:"kind"`
	Pid   int    `json:"pid,omitempty"` // exec: the command's PID, when init forked it (crate exec)
	Step  string `json:"step,omitempty"`
	Errno int    `json:"errno,omitempty"`
	Msg   string `json:"msg,omitempty"`
}

// maxMessage bounds a message so a confused peer cannot make us allocate much.
const maxMessage = 1 << 20

// InitError is a failure inside init, as reported to the supervisor: the step
// that failed, the errno (0 if none), and a message for humans.
type InitError struct {
	Step  string
	Errno syscall.Errno
	Msg   string
}

func (e *InitError) Error() string {
	return fmt.Sprintf("init: %s: %s", e.Step, e.Msg)
}

// Unwrap lets callers use errors.Is(err, syscall.ENOENT) and the like.
func (e *InitError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// Channel is one end of the sync socket.
type Channel struct {
	f *os.File
	// received are the descriptors that came with the messages read, in
	// order (SCM_RIGHTS), until a caller takes them.
	received []*os.File
}

// NewChannel wraps one end of the sync socket.
func NewChannel(f *os.File) *Channel { return &Channel{f: f} }

// Close closes this end.
func (c *Channel) Close() error { return c.f.Close() }

func (c *Channel) send(m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", m.Kind, err)
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	if _, err := c.f.Write(buf); err != nil {
		return fmt.Errorf("send %s message: %w", m.Kind, err)
	}
	return nil
}

// Read reads from the socket with recvmsg, keeping the descriptors that
// come along (a plain read would close them).
func (c *Channel) Read(p []byte) (int, error) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	oob := make([]byte, syscall.CmsgSpace(4))
	var n, oobn int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = syscall.Recvmsg(int(fd), p, oob, syscall.MSG_CMSG_CLOEXEC)
		return !errors.Is(rerr, syscall.EAGAIN) && !errors.Is(rerr, syscall.EINTR)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, os.NewSyscallError("recvmsg", err)
	}
	if oobn > 0 {
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return 0, err
		}
		for _, m := range msgs {
			fds, err := syscall.ParseUnixRights(&m)
			if err != nil {
				return 0, err
			}
			for _, fd := range fds {
				c.received = append(c.received, os.NewFile(uintptr(fd), "received"))
			}
		}
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (c *Channel) recv() (Message, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return Message{}, io.EOF // closed between messages: meaningful to callers
		}
		return Message{}, fmt.Errorf("read message header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxMessage {
		return Message{}, fmt.Errorf("read message: length %d over the limit of %d", n, maxMessage)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		return Message{}, fmt.Errorf("read message body: %w", err)
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return Message{}, fmt.Errorf("decode message: %w", err)
	}
	return m, nil
}

// SendGo tells init that it has been placed in its cgroup and may build the
// container.
func (c *Channel) SendGo() error {
	return c.send(Message{Kind: KindGo})
}

// WaitGo blocks init until the supervisor sends go. EOF means the supervisor
// gave up (or died) before the container started.
func (c *Channel) WaitGo() error {
	m, err := c.recv()
	if errors.Is(err, io.EOF) {
		return errors.New("wait for go: the supervisor closed the sync socket")
	}
	if err != nil {
		return fmt.Errorf("wait for go: %w", err)
	}
	if m.Kind != KindGo {
		return fmt.Errorf("wait for go: got a %q message", m.Kind)
	}
	return nil
}

// Fail reports a failed step to the supervisor. err's errno, if it carries
// one, travels with it so the supervisor can tell "not found" from "not
// executable".
func (c *Channel) Fail(step string, err error) error {
	m := Message{Kind: KindError, Step: step, Msg: err.Error()}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		m.Errno = int(errno)
	}
	return c.send(m)
}

// execMessage is KindExec's message, encoded once: init sends it on every
// start, and encoding/json would build an encoder for Message first.
var execMessage = []byte("\x00\x00\x00\x0f" + `{"kind":"exec"}`)

// Executing tells the supervisor that init is executing the command: the
// EOF that follows, with no error before it, means that the command runs.
func (c *Channel) Executing() error {
	if _, err := c.f.Write(execMessage); err != nil {
		return fmt.Errorf("send %s message: %w", KindExec, err)
	}
	return nil
}

// ExecutingPid is Executing for a command init forked, with its PID.
func (c *Channel) ExecutingPid(pid int) error {
	return c.send(Message{Kind: KindExec, Pid: pid})
}

// WaitExec blocks the supervisor until init has either executed the command
// (nil), failed a step (*InitError), or died before it said it was
// executing the command (ErrInitDied).
func (c *Channel) WaitExec() error {
	_, err := c.WaitExecPid()
	return err
}

// WaitExecPid is WaitExec that also returns the command's PID, when init
// forked it and said so (ExecutingPid); 0 otherwise.
func (c *Channel) WaitExecPid() (int, error) {
	executing := false
	pid := 0
	for {
		m, err := c.recv()
		switch {
		case errors.Is(err, io.EOF) && executing:
			return pid, nil
		case closed(err):
			return 0, fmt.Errorf("wait for exec: %w (%w)", ErrInitDied, err)
		case err != nil:
			return 0, fmt.Errorf("wait for exec: %w", err)
		case m.Kind == KindExec && !executing:
			executing, pid = true, m.Pid
		case m.Kind == KindConsole && !executing:
			// Its descriptor waits in received for TakeConsole.
		case m.Kind == KindError:
			return 0, &InitError{Step: m.Step, Errno: syscall.Errno(m.Errno), Msg: m.Msg}
		default:
			return 0, fmt.Errorf("wait for exec: got a %q message", m.Kind)
		}
	}
}

// TakeConsole returns the terminal's master that came with a console
// message WaitExecPid read, if one did; the caller closes it.
func (c *Channel) TakeConsole() *os.File {
	var console *os.File
	for _, f := range c.received {
		if console == nil {
			console = f
		} else {
			f.Close()
		}
	}
	c.received = nil
	return console
}

// SendConsole hands the master of the container's terminal to OCI create,
// in one sendmsg: the message and the descriptor arrive together.
func (c *Channel) SendConsole(master *os.File) error {
	body := []byte(`{"kind":"console"}`)
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		serr = syscall.Sendmsg(int(fd), buf, syscall.UnixRights(int(master.Fd())), nil, 0)
		return !errors.Is(serr, syscall.EAGAIN) && !errors.Is(serr, syscall.EINTR)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("send %s message: %w", KindConsole, os.NewSyscallError("sendmsg", err))
	}
	return nil
}

// WaitCreated blocks OCI create until init has built the container and
// waits at the start gate (nil), failed a step (*InitError), or died
// (ErrInitDied). console is the master of the container's terminal, if
// init sent one (SendConsole).
func (c *Channel) WaitCreated() (console *os.File, err error) {
	defer func() {
		for _, f := range c.received {
			if f != console {
				f.Close() // none other is asked for
			}
		}
		c.received = nil
		if err != nil && console != nil {
			console.Close()
			console = nil
		}
	}()
	for {
		m, err := c.recv()
		switch {
		case closed(err):
			return console, fmt.Errorf("wait for create: %w (%w)", ErrInitDied, err)
		case err != nil:
			return console, fmt.Errorf("wait for create: %w", err)
		case m.Kind == KindConsole && console == nil && len(c.received) == 1:
			console = c.received[0]
		case m.Kind == KindCreated:
			return console, nil
		case m.Kind == KindError:
			return console, &InitError{Step: m.Step, Errno: syscall.Errno(m.Errno), Msg: m.Msg}
		default:
			return console, fmt.Errorf("wait for create: got a %q message", m.Kind)
		}
	}
}

// AwaitStart is init's side of the start gate: it tells OCI create that the
// container is built, drops create's socket, and waits on listener for OCI
// start to connect and send go. From then on the channel is that
// connection, so that start hears how the exec went. listener is closed.
func (c *Channel) AwaitStart(listener *os.File) error {
	defer listener.Close()
	if err := c.send(Message{Kind: KindCreated}); err != nil {
		return err
	}
	c.f.Close()
	for {
		fd, _, err := syscall.Accept4(int(listener.Fd()), syscall.SOCK_CLOEXEC)
		if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.ECONNABORTED) {
			continue
		}
		if err != nil {
			return os.NewSyscallError("accept", err)
		}
		c.f = os.NewFile(uintptr(fd), "start")
		return c.WaitGo()
	}
}

// closed reports whether err, from a read of the socket, means that the
// other end closed it: EOF, part of a message then EOF, or ECONNRESET, the
// kernel's answer when the other end closed it with data still unread.
func closed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}
