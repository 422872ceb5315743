package main

import (
	"errors"
	"math"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/container"
	"github.com/crate-run/crate/pkg/spec"
	"github.com/crate-run/crate/pkg/state"
)

// ExecCmd is `crate exec`.
type ExecCmd struct {
	Interactive bool     `short:"i" help:"Keep stdin open: the command reads crate's stdin (without -i it reads /dev/null)."`
	TTY         bool     `name:"tty" short:"t" help:"Give the command a terminal (a pty); with -i, crate's terminal is put in raw mode."`
	Env         []string `short:"e" sep:"none" help:"Set an environment variable over the container's (repeatable)." placeholder:"KEY=VALUE"`
	Workdir     string   `short:"w" help:"Working directory inside the container (default: the container's)." placeholder:"DIR"`
	User        string   `short:"u" help:"Run as this user, NAME|UID[:GROUP|GID] (default: the container's)." placeholder:"USER"`

	Container string   `arg:"" help:"Container name, id or id prefix."`
	Command   []string `arg:"" help:"Command to run and its arguments."`
}

// Run starts the command in the container and waits for it; code is its
// exit code, or 126/127 as with crate run when it cannot be started.
func (c *ExecCmd) Run(g *Globals, code *int) error {
	_ = unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC) // as crate run: nothing inherited reaches it
	sigs, _ := catchSignals()
	if c.Interactive && c.TTY && !isTerminal(os.Stdin) {
		return errors.New("-it: the input device is not a terminal (use -i alone to pipe stdin)")
	}
	for _, kv := range c.Env {
		if err := spec.ValidEnv(kv); err != nil {
			return err
		}
	}
	if c.Workdir != "" {
		if err := spec.ValidWorkdir(c.Workdir); err != nil {
			return err
		}
	}
	initPath, err := container.FindInit()
	if err != nil {
		return err
	}
	return withRunDir(g, "exec", func(log hclog.Logger, dir *state.Dir) error {
		st, err := dir.Lookup(c.Container)
		if err != nil {
			return err
		}
		if err := running(dir, st); err != nil {
			return err
		}
		res, err := container.Exec(log, container.ExecConfig{
			State:       st,
			Spec:        dir.File(st.ID, container.InitSpec),
			CgroupRoot:  cgroupRoot,
			InitPath:    initPath,
			Version:     version,
			Args:        c.Command,
			Env:         c.Env,
			Cwd:         c.Workdir,
			User:        c.User,
			Interactive: c.Interactive,
			Terminal:    c.TTY,
			StopTimeout: 10 * time.Second,
		}, sigs)
		if err != nil {
			err = explainInitDied(err)
			if code := exitCode(err); code != exitCrateFailed {
				// The command could not be executed: 126/127, said once.
				return codedError{err, code}
			}
			return err
		}
		*code = res.ExitCode
		return nil
	})
}
