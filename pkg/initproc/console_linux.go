package initproc

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/initsync"
)

// An engine that asks for a terminal (OCI create with process.terminal)
// gets the master of a pty made in the container's own devpts, as runc
// makes it: the command's terminal is then /dev/pts/0 of its container,
// not a host pty under another name. init opens it once /dev is made, from
// the descriptor of the tmpfs it mounted there and through the devpts it
// mounted on /dev/pts: nothing of the image or of a volume is on that path
// yet. The slave becomes init's standard streams and its controlling
// terminal (init leads a session of its own); the master goes to create
// over the sync socket, and from create to the engine's console socket.

// openConsole makes the container's terminal and hands its master on.
func openConsole(fs *fileSystems, size *specs.Box, sync *initsync.Channel) error {
	if fs.dev == nil {
		return fmt.Errorf("a terminal needs /dev/pts, and the spec mounts no /dev")
	}
	fd, err := unix.Openat(int(fs.dev.Fd()), "pts/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/dev/pts/ptmx", Err: err}
	}
	return becomeTerminal(fd, size, true, sync)
}

// openExecConsole is openConsole for an OCI exec, in a container that runs:
// its /dev/pts is where its processes may have put anything. So ptmx is
// opened without following a link, and must be a devpts's ptmx (its own
// instance, or one it mounted: either way the container's, not the host's).
func openExecConsole(size *specs.Box, sync *initsync.Channel) error {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/dev/pts/ptmx", &unix.OpenHow{
		Flags:   unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return &os.PathError{Op: "open", Path: "/dev/pts/ptmx", Err: err}
	}
	var fs unix.Statfs_t
	var st unix.Stat_t
	if err := unix.Fstatfs(fd, &fs); err != nil || fs.Type != unix.DEVPTS_SUPER_MAGIC ||
		unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(5, 2) {
		unix.Close(fd)
		return fmt.Errorf("the container's /dev/pts/ptmx is not a devpts ptmx")
	}
	// Not init's controlling terminal: the process makes it its own, in a
	// session of its own (spawn_linux.go), for it outlives init.
	return becomeTerminal(fd, size, false, sync)
}

// becomeTerminal makes the pty of the master fd (which it closes) init's
// standard streams, with ctty its controlling terminal, and sends the
// master to crate.
func becomeTerminal(fd int, size *specs.Box, ctty bool, sync *initsync.Channel) error {
	master := os.NewFile(uintptr(fd), "/dev/ptmx")
	defer master.Close()
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return os.NewSyscallError("ioctl TIOCSPTLCK", err)
	}
	if size != nil {
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws); err != nil {
			return os.NewSyscallError("ioctl TIOCSWINSZ", err)
		}
	}
	// The slave from the master itself (TIOCGPTPEER): no path to look up.
	slave, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return os.NewSyscallError("ioctl TIOCGPTPEER", errno)
	}
	defer unix.Close(int(slave))
	for std := 0; std < 3; std++ {
		if err := unix.Dup3(int(slave), std, 0); err != nil {
			return os.NewSyscallError("dup3", err)
		}
	}
	if ctty {
		if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
			return os.NewSyscallError("ioctl TIOCSCTTY", err)
		}
	}
	return sync.SendConsole(master)
}
