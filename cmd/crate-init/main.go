// The Go runtime would size GOMAXPROCS from the container's cgroup CPU
// limit, and keep the host's cgroup files open to follow it: init needs
// neither, and with --init it would hold them open in the container.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command crate-init is the container's first process. crate starts it inside
// new namespaces with the spec, the sync socket, a log pipe and the network
// namespace on fds 3-6, and the level to log at as its argument; it builds
// the container and execs the user's command, or with --init runs it as its
// child (see pkg/initproc).
// It is built static (CGO_ENABLED=0) so that it needs nothing from the image.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/crate-run/crate/pkg/initlog"
	"github.com/crate-run/crate/pkg/initproc"
	"github.com/crate-run/crate/pkg/initsync"
)

// main returns only when the container could not start; the supervisor has
// been told why, unless run says otherwise.
func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "crate-init: %v\n", err)
	}
	os.Exit(1)
}

// init keeps main on the process's first thread, the one crate started:
// the kernel's parent-death signal, which ends the container with its
// supervisor, belongs to that thread, and execve keeps the attributes of
// the thread that calls it. Had the command been executed from another of
// the runtime's threads, it would not die with its supervisor. (A locked
// main goroutine stays on the first thread only if it is locked in init.)
func init() { runtime.LockOSThread() }

// version is set at build time with -ldflags -X, as crate's: crate sends
// its own with the spec, and init refuses to build a container for another.
var version = "dev"

func run() error {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Printf("crate-init %s\n", version) // for crate version
		os.Exit(0)
	}
	if err := initproc.CheckFds(); err != nil {
		return err
	}
	// crate names the level to log at; by hand, everything.
	level := initlog.Trace
	if len(os.Args) > 1 {
		if l, err := initlog.ParseLevel(os.Args[1]); err == nil {
			level = l
		}
	}
	log := initlog.New(os.NewFile(initsync.LogFd, "log"), level)
	return initproc.Run(log, version)
}
