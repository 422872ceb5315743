package container

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// The kernel takes about half a millisecond to make a network namespace
// (every protocol sets up its per-namespace state), more than the other four
// together. So the container's is made on a thread of its own while the
// supervisor prepares the root filesystem and the cgroup, instead of by
// init's clone, with its loopback interface up; init joins it (setns) before
// it touches the network.

// pendingNetns is a network namespace on its way.
type pendingNetns struct {
	done chan struct{}
	file *os.File // /proc/thread-self/ns/net of the thread that made it
	err  error
}

// startNetns starts making a network namespace.
func startNetns() *pendingNetns {
	p := &pendingNetns{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.file, p.err = makeNetns()
	}()
	return p
}

// makeNetns moves the calling goroutine's thread into a new network
// namespace and opens it. That thread must never run anything else: the
// goroutine ends without UnlockOSThread, so the runtime ends the thread.
func makeNetns() (*os.File, error) {
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, os.NewSyscallError("unshare CLONE_NEWNET", err)
	}
	if err := loopbackUp(); err != nil {
		return nil, err
	}
	return os.Open("/proc/thread-self/ns/net")
}

// loopbackUp brings up lo, the only interface of a new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("ioctl SIOCGIFFLAGS lo", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("ioctl SIOCSIFFLAGS lo", err)
	}
	return nil
}

// wait returns the namespace, or why it could not be made.
func (p *pendingNetns) wait() (*os.File, error) {
	<-p.done
	return p.file, p.err
}

// close lets go of crate's hold on the namespace: once init has joined it,
// it lives as long as the container's processes.
func (p *pendingNetns) close() {
	<-p.done
	if p.file != nil {
		p.file.Close()
	}
}
