package initsync

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"syscall"
	"testing"
)

// pair returns the supervisor's and init's ends of a fresh sync socket.
func pair(t *testing.T) (parent, child *Channel) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent = NewChannel(os.NewFile(uintptr(fds[0]), "parent"))
	child = NewChannel(os.NewFile(uintptr(fds[1]), "child"))
	t.Cleanup(func() { parent.Close(); child.Close() })
	return parent, child
}

func TestGoThenExec(t *testing.T) {
	parent, child := pair(t)
	if err := parent.SendGo(); err != nil {
		t.Fatal(err)
	}
	if err := child.WaitGo(); err != nil {
		t.Fatalf("WaitGo: %v", err)
	}
	if err := child.Executing(); err != nil {
		t.Fatal(err)
	}
	child.Close() // what a successful execve does to the close-on-exec socket
	if err := parent.WaitExec(); err != nil {
		t.Fatalf("WaitExec after exec and EOF = %v, want nil", err)
	}
}

// TestExecMessage: the exec message, encoded by hand, is what send would
// have written.
func TestExecMessage(t *testing.T) {
	body, err := json.Marshal(Message{Kind: KindExec})
	if err != nil {
		t.Fatal(err)
	}
	want := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	if want = append(want, body...); !bytes.Equal(execMessage, want) {
		t.Errorf("execMessage %q, want %q", execMessage, want)
	}
}

// TestInitDiedBeforeExec: init's end closed before it said it was executing
// the command is a death, whether go was read (EOF) or not (ECONNRESET);
// after exec, a failed execve is still reported.
func TestInitDiedBeforeExec(t *testing.T) {
	t.Run("after go", func(t *testing.T) {
		parent, child := pair(t)
		parent.SendGo()
		if err := child.WaitGo(); err != nil {
			t.Fatal(err)
		}
		child.Close()
		if err := parent.WaitExec(); !errors.Is(err, ErrInitDied) {
			t.Errorf("WaitExec = %v, want ErrInitDied", err)
		}
	})
	t.Run("go unread", func(t *testing.T) {
		parent, child := pair(t)
		parent.SendGo()
		child.Close()
		if err := parent.WaitExec(); !errors.Is(err, ErrInitDied) || !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("WaitExec = %v, want ErrInitDied, from ECONNRESET", err)
		}
	})
	t.Run("exec then a failed execve", func(t *testing.T) {
		parent, child := pair(t)
		child.Executing()
		child.Fail("exec", syscall.ENOENT)
		var ie *InitError
		if err := parent.WaitExec(); !errors.As(err, &ie) || ie.Errno != syscall.ENOENT {
			t.Errorf("WaitExec = %v, want the InitError of the failed execve", err)
		}
	})
}

func TestFailCarriesStepAndErrno(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantErrno syscall.Errno
	}{
		{"errno", &os.PathError{Op: "exec", Path: "/bin/nope", Err: syscall.ENOENT}, syscall.ENOENT},
		{"plain", errors.New("bad spec"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, child := pair(t)
			if err := child.Fail("exec", tt.err); err != nil {
				t.Fatal(err)
			}
			err := parent.WaitExec()
			var ie *InitError
			if !errors.As(err, &ie) {
				t.Fatalf("WaitExec = %v, want *InitError", err)
			}
			if ie.Step != "exec" || ie.Errno != tt.wantErrno || ie.Msg != tt.err.Error() {
				t.Errorf("got %+v", ie)
			}
			if tt.wantErrno != 0 && !errors.Is(err, tt.wantErrno) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantErrno)
			}
		})
	}
}

func TestWaitGoOnEOF(t *testing.T) {
	parent, child := pair(t)
	parent.Close()
	if err := child.WaitGo(); err == nil {
		t.Fatal("WaitGo after the supervisor closed = nil, want an error")
	}
}
