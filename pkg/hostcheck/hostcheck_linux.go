package hostcheck

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/cgroups"
)

// Run checks this host. The file-reading checks read the paths in o; the
// others ask the kernel.
func Run(o Options) []Result {
	return run(o, hostProbes)
}

var hostProbes = probes{
	euid:          os.Geteuid,
	seccompMode:   seccompMode,
	seccompFilter: seccompFilter,
	bpfDevice:     cgroups.CanFilterDevices,
	freeBytes:     freeBytes,
}

func seccompMode() (int, error) {
	// unix.Prctl drops the return value, which is the answer here.
	mode, _, errno := unix.Syscall6(unix.SYS_PRCTL, unix.PR_GET_SECCOMP, 0, 0, 0, 0, 0)
	if errno != 0 {
		return 0, &os.SyscallError{Syscall: "prctl(PR_GET_SECCOMP)", Err: errno}
	}
	return int(mode), nil
}

// seccompFilter asks for filter mode with a NULL filter program. A kernel
// with filter mode fails to copy the program in (EFAULT); one without it
// refuses the mode (EINVAL). A NULL program can never be installed, so the
// question cannot change this process.
func seccompFilter() (bool, error) {
	err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, 0, 0, 0)
	switch {
	case errors.Is(err, unix.EFAULT), errors.Is(err, unix.EACCES):
		// EACCES: the mode exists, but without no_new_privs or
		// CAP_SYS_ADMIN it may not be set; crate-init sets no_new_privs.
		return true, nil
	case errors.Is(err, unix.EINVAL):
		return false, nil
	case err == nil:
		return false, errors.New("prctl(PR_SET_SECCOMP) accepted a NULL filter")
	default:
		return false, &os.SyscallError{Syscall: "prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL)", Err: err}
	}
}

func freeBytes(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	return st.Bavail * uint64(st.Bsize), nil
}
