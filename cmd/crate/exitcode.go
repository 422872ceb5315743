package main

import (
	"errors"
	"syscall"

	"github.com/crate-run/crate/pkg/initsync"
)

// docker run's exit codes for failures before the command runs.
const (
	exitCrateFailed   = 125 // crate itself failed: bad input, a step of the start
	exitNotExecutable = 126 // the command exists but cannot be executed
	exitNotFound      = 127 // the command does not exist
)

// exitCode maps an error from a command to the exit code crate ends with.
func exitCode(err error) int {
	var ce codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	var ie *initsync.InitError
	if errors.As(err, &ie) && ie.Step == initsync.StepExec {
		if errors.Is(err, syscall.ENOENT) {
			return exitNotFound
		}
		return exitNotExecutable
	}
	return exitCrateFailed
}
