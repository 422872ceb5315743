package seccomp

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install makes p the seccomp filter of every thread of this process, and of
// everything it executes from now on.
//
// The kernel accepts a filter from a thread that holds CAP_SYS_ADMIN or has
// no_new_privs set, so call Install on the thread that does: crate-init's
// locked thread, while it still has every capability, before it drops them
// and switches user. Install does not set no_new_privs itself (the
// container's noNewPrivileges setting decides that) and works when it is set
// already. Docker's default profile, for any capability set, allows
// everything init does after Install: prctl, capget and capset, setgroups,
// setuid, setgid, setresuid, setresgid, open, read, write, close, execve, and
// what the Go runtime does meanwhile.
func Install(p Program) error {
	if err := p.check(); err != nil {
		return fmt.Errorf("install seccomp filter: %w", err)
	}
	filter := make([]unix.SockFilter, len(p))
	for i, in := range p {
		filter[i] = unix.SockFilter{Code: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// TSYNC: a Go program has several threads, and a filter set without it
	// would hold for the calling thread only. The other threads of init are
	// the Go runtime's; if one of them cannot take the filter, seccomp
	// returns its thread id instead of failing with an errno.
	tid, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	switch {
	case errors.Is(errno, unix.EACCES):
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): %w (needs CAP_SYS_ADMIN or no_new_privs)", errno)
	case errno != 0:
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): %w", errno)
	case tid != 0:
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): thread %d cannot take the filter", tid)
	}
	return nil
}
