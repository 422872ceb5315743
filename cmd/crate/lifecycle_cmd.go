package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/container"
	"github.com/crate-run/crate/pkg/containerlog"
	"github.com/crate-run/crate/pkg/logging"
	"github.com/crate-run/crate/pkg/state"
)

// The commands that act on containers a supervisor (a foreground crate run,
// or crate run -d's) owns. They find it in the run directory (pkg/state),
// reach its PID 1 through a pidfd (container.Signal, Stop), and leave the
// cleaning to the supervisor; only when the supervisor is gone do rm and gc
// remove what is left themselves.

// cgroupRoot is where crate makes its cgroups.
const cgroupRoot = "/sys/fs/cgroup"

// supervisorExit bounds the wait for a supervisor to clean up once its
// container's PID 1 has exited: a safety net, the cleanup takes milliseconds.
const supervisorExit = time.Minute

// withRunDir runs f with crate's logger, logging an error f returns; then,
// its work done, it collects what dead supervisors left
// (container.CollectLeftovers), so that a command's answer never waits for it.
func withRunDir(g *Globals, verb string, f func(hclog.Logger, *state.Dir) error) error {
	log, closeLog, err := g.rootLogger("crate " + verb + " needs root (containers belong to root)")
	if err != nil {
		return err
	}
	defer closeLog()
	dir := g.runDir()
	err = f(log, dir)
	if err != nil && !errors.As(err, new(loggedError)) {
		log.Error(err.Error())
		err = loggedError{err}
	}
	if verb != "gc" {
		container.CollectLeftovers(log, g.DataRoot, cgroupRoot, dir)
	}
	return err
}

// forEach runs f for every container ref names, reporting failures one line
// each and going on, as docker stop a b c does.
func forEach(log hclog.Logger, dir *state.Dir, refs []string, f func(state.State) error) error {
	failed := 0
	for _, ref := range refs {
		st, err := dir.Lookup(ref)
		if err == nil {
			err = f(st)
		}
		if err != nil {
			log.Error(fmt.Sprintf("%s: %v", ref, err))
			failed++
			continue
		}
		fmt.Println(ref)
	}
	if failed > 0 {
		// Each failure is said above; the exit code says there was one.
		return loggedError{fmt.Errorf("%d of %d containers failed", failed, len(refs))}
	}
	return nil
}

// running reports whether the container's command runs under a live
// supervisor, or says why not.
func running(dir *state.Dir, st state.State) error {
	if st.Status != state.Running || !dir.Alive(st.ID) {
		return fmt.Errorf("container %s is not running (%s)", st.ID, describeStatus(st, time.Now()))
	}
	return nil
}

// PsCmd is `crate ps`.
type PsCmd struct {
	All    bool   `short:"a" help:"Show exited containers too (kept by crate run -d, or left by a supervisor that died)."`
	Format string `help:"Output format: table, or json (one object per line)." enum:"table,json" default:"table" placeholder:"FORMAT"`
}

func (c *PsCmd) Run(g *Globals) error {
	return withRunDir(g, "ps", func(log hclog.Logger, dir *state.Dir) error {
		all, err := dir.List()
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
		if c.Format == "table" {
			fmt.Fprintln(w, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPID")
		}
		now := time.Now()
		for _, st := range all {
			if st.OCI {
				st = ociAsCrate(log, st)
			}
			if st.Status == state.Exited && !c.All {
				continue
			}
			if c.Format == "json" {
				if err := writeJSON(os.Stdout, st, ""); err != nil {
					return err
				}
				continue
			}
			pid := ""
			if st.Status == state.Running {
				pid = strconv.Itoa(st.InitPID)
			}
			// The command may be the image's: quoted, so that its control
			// characters cannot act on the terminal.
			fmt.Fprintf(w, "%s\t%s\t%s\t%s ago\t%s\t%s\n", st.ID, st.Image, quoteShort(strings.Join(st.Command, " "), 30),
				ago(now.Sub(st.Created)), describeStatus(st, now), pid)
		}
		return w.Flush()
	})
}

// ociAsCrate is an engine's container (made by OCI create) as crate's own
// are shown: its status is told by its init, not recorded by a supervisor.
func ociAsCrate(log hclog.Logger, st state.State) state.State {
	switch container.OCIStatus(log, cgroupRoot, st) {
	case specs.StateStopped:
		st.Status, st.Reason = state.Exited, "its engine reaps it"
	case specs.StateCreated:
		st.Status = state.Created
	default:
		st.Status = state.Running
	}
	return st
}

// describeStatus says how a container is, in docker ps's words.
func describeStatus(st state.State, now time.Time) string {
	switch {
	case st.Status == state.Running:
		return "Up " + ago(now.Sub(st.Started))
	case st.Status == state.Created:
		return "Created"
	case st.Reason != "":
		return "Exited (" + st.Reason + ")"
	}
	s := "Exited"
	if st.ExitCode != nil {
		s += fmt.Sprintf(" (%d)", *st.ExitCode)
	}
	if st.OOMKilled {
		s += " OOM-killed"
	}
	return s + " " + ago(now.Sub(st.Finished)) + " ago"
}

// ago is a rough duration, as docker ps prints it.
func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return "less than a second"
	case d < 2*time.Minute:
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// LogsCmd is `crate logs`.
type LogsCmd struct {
	Follow     bool   `short:"f" help:"Keep printing new output until the container exits."`
	Since      string `help:"Only output since this long ago (10m, 1h30m) or this time (RFC 3339)." placeholder:"TIME"`
	Timestamps bool   `short:"t" help:"Prefix every line with the time it was written."`
	Raw        bool   `help:"Pass the output through as the container wrote it, even to a terminal (by default its control characters are shown as escapes there, such as \\x1b; colours pass)."`

	Container string `arg:"" help:"Container name, id or id prefix."`
}

func (c *LogsCmd) Run(g *Globals) error {
	since, err := logging.ParseSince(c.Since, time.Now())
	if err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	return withRunDir(g, "logs", func(log hclog.Logger, dir *state.Dir) error {
		st, err := dir.Lookup(c.Container)
		if err != nil {
			return err
		}
		if st.Log == "" {
			return fmt.Errorf("container %s was not started with -d: its output went to crate run's own", st.ID)
		}
		var done chan struct{}
		if c.Follow {
			// The supervisor has written the last line once it has let go.
			done = make(chan struct{})
			go func() {
				dir.WaitSupervisor(context.Background(), st.ID)
				close(done)
			}()
		}
		opts := containerlog.Options{Since: since, Timestamps: c.Timestamps, Follow: c.Follow}
		if !c.Raw {
			// A terminal acts on the control characters it is sent, and the
			// container chose these: escaped, they cannot rewrite what the
			// operator sees. A pipe or a file gets the bytes as they were.
			opts.Escape = map[containerlog.Stream]bool{
				containerlog.Stdout: isTerminal(os.Stdout),
				containerlog.Stderr: isTerminal(os.Stderr),
			}
		}
		err = containerlog.Show(context.Background(), st.Log, st.LogLimits.MaxFiles, os.Stdout, os.Stderr, opts, done)
		// Read again: following, the output may have been truncated meanwhile.
		if now, gerr := dir.Get(st.ID); gerr == nil && now.OutputTruncated != "" {
			log.Warn(fmt.Sprintf("container %s's output was truncated: the log ends where writing it failed, and the rest was dropped (%s)",
				st.ID, now.OutputTruncated))
		}
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("container %s has no output log any more (removed)", st.ID)
		}
		return err
	})
}

// StopCmd is `crate stop`.
type StopCmd struct {
	Time       int      `short:"t" help:"Seconds to wait after SIGTERM before SIGKILL." default:"10" placeholder:"SECONDS"`
	Containers []string `arg:"" help:"Container names, ids or id prefixes."`
}

func (c *StopCmd) Run(g *Globals) error {
	if c.Time < 0 {
		return fmt.Errorf("--time %d: must not be negative", c.Time)
	}
	return withRunDir(g, "stop", func(log hclog.Logger, dir *state.Dir) error {
		return forEach(log, dir, c.Containers, func(st state.State) error {
			if running(dir, st) != nil {
				return nil // already stopped, as docker stop has it
			}
			err := container.Stop(log, st, time.Duration(c.Time)*time.Second)
			if err != nil && !errors.Is(err, container.ErrNotRunning) {
				return err
			}
			return waitSupervisor(dir, st)
		})
	})
}

// waitSupervisor waits until the container's supervisor has recorded its
// end and let go, so that what follows (crate rm, crate ps) sees it exited.
func waitSupervisor(dir *state.Dir, st state.State) error {
	ctx, cancel := context.WithTimeout(context.Background(), supervisorExit)
	defer cancel()
	if err := dir.WaitSupervisor(ctx, st.ID); err != nil {
		return fmt.Errorf("wait for its supervisor (pid %d) to clean up: %w", st.SupervisorPID, err)
	}
	return nil
}

// WaitCmd is `crate wait`.
type WaitCmd struct {
	Containers []string `arg:"" help:"Container names, ids or id prefixes."`
}

// Run waits for each container to end and prints its exit code, as docker
// wait does. A container removed when it ended (a foreground run, or -d
// --rm) leaves no code to print.
func (c *WaitCmd) Run(g *Globals) error {
	return withRunDir(g, "wait", func(log hclog.Logger, dir *state.Dir) error {
		for _, ref := range c.Containers {
			st, err := dir.Lookup(ref)
			if err != nil {
				return err
			}
			if err := dir.WaitSupervisor(context.Background(), st.ID); err != nil {
				return err
			}
			st, err = dir.Get(st.ID)
			switch {
			case errors.Is(err, state.ErrNotFound):
				return fmt.Errorf("container %s was removed when it ended: its exit code is gone", ref)
			case err != nil:
				return err
			case st.ExitCode == nil:
				return fmt.Errorf("container %s ended without an exit code (%s)", ref, describeStatus(st, time.Now()))
			}
			fmt.Println(*st.ExitCode)
		}
		return nil
	})
}

// KillCmd is `crate kill`.
type KillCmd struct {
	Signal     string   `short:"s" help:"Signal to send: a name (TERM, SIGHUP) or a number." default:"KILL" placeholder:"SIGNAL"`
	Containers []string `arg:"" help:"Container names, ids or id prefixes."`
}

func (c *KillCmd) Run(g *Globals) error {
	sig, err := parseSignal(c.Signal)
	if err != nil {
		return err
	}
	return withRunDir(g, "kill", func(log hclog.Logger, dir *state.Dir) error {
		return forEach(log, dir, c.Containers, func(st state.State) error {
			if err := running(dir, st); err != nil {
				return err
			}
			return container.Signal(st, sig)
		})
	})
}

// parseSignal reads a --signal value: KILL, SIGKILL or 9.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("--signal %s: not a signal number (1-64)", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("--signal %s: unknown signal; use a name like TERM or HUP, or a number", s)
}

// RmCmd is `crate rm`.
type RmCmd struct {
	Force      bool     `short:"f" help:"Kill a running container first."`
	Containers []string `arg:"" help:"Container names, ids or id prefixes."`
}

func (c *RmCmd) Run(g *Globals) error {
	return withRunDir(g, "rm", func(log hclog.Logger, dir *state.Dir) error {
		return forEach(log, dir, c.Containers, func(st state.State) error {
			if st.Status != state.Exited && dir.Alive(st.ID) {
				if !c.Force {
					return fmt.Errorf("container %s is running: stop it first, or use crate rm -f", st.ID)
				}
				if err := container.Signal(st, unix.SIGKILL); err != nil && !errors.Is(err, container.ErrNotRunning) {
					return err
				}
				if err := waitSupervisor(dir, st); err != nil {
					return err
				}
			}
			return remove(log, dir, st.ID)
		})
	})
}

// remove removes what is left of a container whose supervisor is gone: its
// cgroup, directory and, last, its state. A container its supervisor
// removed itself (a foreground run) is already gone, which is fine.
func remove(log hclog.Logger, dir *state.Dir, id string) error {
	err := container.RemoveDead(log, cgroupRoot, dir, id, false)
	if errors.Is(err, state.ErrAlive) {
		return fmt.Errorf("container %s is still running (or being removed)", id)
	}
	return err
}

// InspectCmd is `crate inspect`.
type InspectCmd struct {
	Containers []string `arg:"" help:"Container names, ids or id prefixes."`
}

// inspected is one container as crate inspect shows it.
type inspected struct {
	State state.State `json:"state"`
	// Spec is the OCI runtime spec crate-init was given: the process, root,
	// mounts, hostname, capabilities, limits and masked paths, and the
	// seccomp filter compiled (crateSeccompFilter); the namespaces and
	// cgroup limits are crate's own part (state.limits).
	Spec json.RawMessage `json:"spec,omitempty"`
}

func (c *InspectCmd) Run(g *Globals) error {
	return withRunDir(g, "inspect", func(log hclog.Logger, dir *state.Dir) error {
		var out []inspected
		for _, ref := range c.Containers {
			st, err := dir.Lookup(ref)
			if err != nil {
				return err
			}
			in := inspected{State: st}
			if data, err := os.ReadFile(dir.File(st.ID, container.InitSpec)); err == nil {
				in.Spec = data
			}
			out = append(out, in)
		}
		return writeJSON(os.Stdout, out, "  ")
	})
}

// GcCmd is `crate gc`.
type GcCmd struct{}

// Run removes the containers whose supervisor died (killed, or the machine
// rebooted under it), whatever they left: cgroups, directories, state. Every
// crate command collects most of that on its own (see collectLeftovers);
// crate gc also removes the containers kept for crate rm, and runs once at
// boot from the package's crate-gc.service.
func (c *GcCmd) Run(g *Globals) error {
	return withRunDir(g, "gc", func(log hclog.Logger, dir *state.Dir) error {
		done, err := container.Collect(context.Background(), log, g.DataRoot, cgroupRoot, dir, true)
		for _, c := range done {
			fmt.Printf("%s\t%s\n", c.ID, c.Reason)
		}
		return err
	})
}
