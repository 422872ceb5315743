package initsync

import (
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
	child.Close() // what a successful execve does to the close-on-exec socket
	if err := parent.WaitExec(); err != nil {
		t.Fatalf("WaitExec after EOF = %v, want nil", err)
	}
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
