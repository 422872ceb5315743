// Command crate-init is the container's first process. crate starts it inside
// new namespaces with the spec, the sync socket and a log pipe on fds 3-5;
// it builds the container and execs the user's command (see pkg/initproc).
// It is built static (CGO_ENABLED=0) so that it needs nothing from the image.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/crate-run/crate/pkg/initproc"
	"github.com/crate-run/crate/pkg/initsync"
	"github.com/crate-run/crate/pkg/logging"
)

// main returns only when the container could not start; the supervisor has
// been told why, unless run says otherwise.
func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "crate-init: %v\n", err)
	}
	os.Exit(1)
}

func run() error {
	if err := initproc.CheckFds(); err != nil {
		return err
	}
	// crate names the level to log at; by hand, everything.
	level := hclog.Trace
	if len(os.Args) > 1 {
		if l, err := logging.ParseLevel(os.Args[1]); err == nil {
			level = l
		}
	}
	log := logging.NewChild(os.NewFile(initsync.LogFd, "log"), level)
	return initproc.Run(log)
}
