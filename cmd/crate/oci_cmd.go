package main

// The runtime commands: runc's command line, on the crate binary, so that an
// engine configured with crate's path (containerd's BinaryName or
// --runc-binary, podman's --runtime, dockerd's --add-runtime) drives crate
// as it drives runc. They work on OCI bundles, under the same run directory
// as crate run (--root), and say every error both on stderr (podman reads
// it) and in the --log file (containerd's shim reads its last error line).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/container"
	"github.com/crate-run/crate/pkg/initsync"
	"github.com/crate-run/crate/pkg/logging"
	"github.com/crate-run/crate/pkg/spec"
	"github.com/crate-run/crate/pkg/state"
)

// runtimeCommand runs f with the runtime commands' logging: nothing on
// stderr but the final error, which also goes, with whatever f logs, to the
// --log file in the --log-format, and to crate's own log file.
func runtimeCommand(g *Globals, verb string, f func(log hclog.Logger, dir *state.Dir) error) error {
	if os.Geteuid() != 0 {
		return errors.New("crate " + verb + " needs root (containers belong to root): run it with sudo")
	}
	// The engine's descriptors (containerd's shim leaves a socket at 3)
	// must not reach crate-init, which holds what it inherits until it
	// execs the command, for as long as the container waits at its start
	// gate: everything from 3 on closes at crate's own execs.
	_ = unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if g.Rootless == "true" {
		return errors.New("--rootless=true: crate runs containers as root only (rootless containers are not there yet); use --rootless=false")
	}
	// Nothing on stderr but the final error: create's caller gives it the
	// container's own stderr, where crate's messages do not belong.
	opts := logging.Options{Level: "error", Format: g.LogFormat, File: g.LogFile, Stderr: io.Discard}
	if g.Log != "" {
		level := hclog.Info
		if g.Debug {
			level = hclog.Debug
		}
		opts.Runtime, opts.RuntimeLevel = g.Log, level
	}
	log, closeLog, err := logging.New(opts)
	if err != nil {
		return err
	}
	defer closeLog()
	if err := f(log.Named(verb), g.runDir()); err != nil {
		err = wordRuntimeError(err)
		log.Error(err.Error())
		fmt.Fprintf(os.Stderr, "crate: %v\n", err)
		return loggedError{err}
	}
	return nil
}

// wordRuntimeError says a failure in the words of someone driving crate
// with a bundle, not crate run's flags.
// An engine may read its exit code from the words: podman gives 127 for
// "no such file or directory" and 126 for "permission denied", as runc
// says them, so a command that cannot be executed says its errno's text.
func wordRuntimeError(err error) error {
	var d *container.InitDiedError
	if errors.As(err, &d) {
		return fmt.Errorf("%w (linux.resources may be too small for crate-init: it needs %s of memory and %d tasks)",
			err, humanBytes(d.Floor.MemoryBytes), d.Floor.Pids)
	}
	var ie *initsync.InitError
	if errors.As(err, &ie) && ie.Step == initsync.StepExec && ie.Errno != 0 && !strings.Contains(err.Error(), ie.Errno.Error()) {
		return fmt.Errorf("%w: %v", err, ie.Errno)
	}
	return err
}

// CreateCmd is runc's create.
type CreateCmd struct {
	Bundle        string `short:"b" help:"The bundle: a directory holding config.json and, usually, the root filesystem." default:"." type:"path" placeholder:"DIR"`
	PidFile       string `help:"Write the container's PID here once it is created." type:"path" placeholder:"FILE"`
	ConsoleSocket string `help:"An AF_UNIX socket that gets the master of the container's terminal (process.terminal)." type:"path" placeholder:"SOCKET"`
	NoPivot       bool   `help:"Switch root with chroot instead of pivot_root."`
	NoNewKeyring  bool   `help:"Accepted for runc's sake: crate never makes a session keyring."`
	PreserveFds   int    `help:"Pass this many descriptors from 3 on to the container (not supported yet: 0 only)." placeholder:"N"`

	ID string `arg:"" help:"The container's id."`
}

func (c *CreateCmd) Run(g *Globals) error {
	return runtimeCommand(g, "create", func(log hclog.Logger, dir *state.Dir) error {
		if err := spec.ValidName(c.ID); err != nil {
			return err
		}
		if c.PreserveFds != 0 {
			return fmt.Errorf("--preserve-fds %d: passing descriptors to the container is not supported yet", c.PreserveFds)
		}
		if g.SystemdCgroup {
			return errSystemdCgroup
		}
		bundle, err := filepath.Abs(c.Bundle)
		if err != nil {
			return err
		}
		s, err := spec.LoadBundle(bundle)
		if err != nil {
			return err
		}
		initPath, err := container.FindInit()
		if err != nil {
			return err
		}
		return container.Create(log, container.CreateConfig{
			ID: c.ID, Bundle: bundle, Spec: s, State: dir, CgroupRoot: cgroupRoot,
			InitPath: initPath, Version: version, PidFile: c.PidFile, ConsoleSocket: c.ConsoleSocket,
			NoPivot: c.NoPivot, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		})
	})
}

// errSystemdCgroup is --systemd-cgroup where systemd does not run.
var errSystemdCgroup = errors.New("--systemd-cgroup: cgroups through systemd need systemd, which crate does not talk to yet; configure the engine for cgroupfs (containerd: SystemdCgroup = false; podman: --cgroup-manager cgroupfs; dockerd: native.cgroupdriver=cgroupfs)")

// StartCmd is runc's start.
type StartCmd struct {
	ID string `arg:"" help:"The container's id."`
}

func (c *StartCmd) Run(g *Globals) error {
	return runtimeCommand(g, "start", func(log hclog.Logger, dir *state.Dir) error {
		return container.Start(log, dir, cgroupRoot, c.ID)
	})
}

// StateCmd is runc's state.
type StateCmd struct {
	ID string `arg:"" help:"The container's id."`
}

func (c *StateCmd) Run(g *Globals) error {
	return runtimeCommand(g, "state", func(log hclog.Logger, dir *state.Dir) error {
		st, err := dir.Get(c.ID)
		if err != nil {
			return err
		}
		return printJSON(ociState(log, st))
	})
}

// ociState is st as runc's state prints it.
func ociState(log hclog.Logger, st state.State) spec.StateOutput {
	status := container.OCIStatus(log, cgroupRoot, st)
	return spec.NewStateOutput(spec.NewState(st.ID, status, st.InitPID, st.Bundle, st.Annotations), st.Rootfs, st.Created, "")
}

// printJSON prints v as indented JSON, as runc does.
func printJSON(v any) error {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(out))
	return err
}

// DeleteCmd is runc's delete.
type DeleteCmd struct {
	Force bool   `short:"f" help:"Kill the container first if it still runs; succeed if it does not exist."`
	ID    string `arg:"" help:"The container's id."`
}

func (c *DeleteCmd) Run(g *Globals) error {
	return runtimeCommand(g, "delete", func(log hclog.Logger, dir *state.Dir) error {
		err := container.Delete(log, dir, cgroupRoot, c.ID, c.Force)
		if c.Force && errors.Is(err, state.ErrNotFound) {
			return nil
		}
		return err
	})
}

// ociKillCmd is runc's kill: `kill [--all] ID [SIGNAL]`, told from crate's
// own `kill [-s SIGNAL] CONTAINER...` by its arguments (see runtimeForm).
type ociKillCmd struct {
	All    bool   `short:"a" help:"Send the signal to every process of the container."`
	ID     string `arg:"" help:"The container's id."`
	Signal string `arg:"" optional:"" help:"A signal name (TERM, SIGTERM) or number." default:"SIGTERM"`
}

func (c *ociKillCmd) Run(g *Globals) error {
	return runtimeCommand(g, "kill", func(log hclog.Logger, dir *state.Dir) error {
		sig, err := parseSignal(c.Signal)
		if err != nil {
			return err
		}
		return container.Kill(log, dir, cgroupRoot, c.ID, sig, c.All)
	})
}

// ListCmd is runc's list.
type ListCmd struct {
	Format string `short:"f" help:"table or json." enum:"table,json" default:"table"`
	Quiet  bool   `short:"q" help:"Print the ids only."`
}

func (c *ListCmd) Run(g *Globals) error {
	return runtimeCommand(g, "list", func(log hclog.Logger, dir *state.Dir) error {
		all, err := dir.List()
		if err != nil {
			return err
		}
		var out []spec.StateOutput
		for _, st := range all {
			if st.OCI {
				out = append(out, ociState(log, st))
			}
		}
		switch {
		case c.Quiet:
			for _, s := range out {
				fmt.Println(s.ID)
			}
			return nil
		case c.Format == "json":
			if out == nil {
				out = []spec.StateOutput{} // runc prints [] for none
			}
			return printJSON(out)
		}
		w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
		fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
		for _, s := range out {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), "root")
		}
		return w.Flush()
	})
}

// FeaturesCmd is runc's features.
type FeaturesCmd struct{}

func (c *FeaturesCmd) Run(g *Globals) error {
	return printJSON(spec.Features())
}

// ociPsCmd is runc's ps: the host PIDs of a container's processes, told
// from crate's own ps by its ID (see runtimeForm).
type ociPsCmd struct {
	Format string   `short:"f" help:"table or json (a list of host PIDs)." enum:"table,json" default:"table"`
	ID     string   `arg:"" help:"The container's id."`
	PsArgs []string `arg:"" optional:"" help:"Options for ps(1), with table."`
}

func (c *ociPsCmd) Run(g *Globals) error {
	return runtimeCommand(g, "ps", func(log hclog.Logger, dir *state.Dir) error {
		st, err := dir.Get(c.ID)
		if err != nil {
			return err
		}
		pids, err := container.Pids(log, cgroupRoot, st)
		if err != nil {
			return err
		}
		if c.Format == "json" {
			if pids == nil {
				pids = []int{}
			}
			out, err := json.Marshal(pids)
			if err != nil {
				return err
			}
			_, err = fmt.Println(string(out))
			return err
		}
		fmt.Println("PID")
		for _, pid := range pids {
			fmt.Println(strconv.Itoa(pid))
		}
		return nil
	})
}

// PauseCmd is runc's pause.
type PauseCmd struct {
	ID string `arg:"" help:"The container's id."`
}

func (c *PauseCmd) Run(g *Globals) error {
	return runtimeCommand(g, "pause", func(log hclog.Logger, dir *state.Dir) error {
		return container.Pause(log, dir, cgroupRoot, c.ID, true)
	})
}

// ResumeCmd is runc's resume.
type ResumeCmd struct {
	ID string `arg:"" help:"The container's id."`
}

func (c *ResumeCmd) Run(g *Globals) error {
	return runtimeCommand(g, "resume", func(log hclog.Logger, dir *state.Dir) error {
		return container.Pause(log, dir, cgroupRoot, c.ID, false)
	})
}

// UpdateCmd is runc's update, with the resources as the runtime spec's JSON.
type UpdateCmd struct {
	Resources string `short:"r" help:"The new linux.resources, as JSON: a file, or - for stdin." required:"" placeholder:"FILE"`
	ID        string `arg:"" help:"The container's id."`
}

func (c *UpdateCmd) Run(g *Globals) error {
	return runtimeCommand(g, "update", func(log hclog.Logger, dir *state.Dir) error {
		in := os.Stdin
		if c.Resources != "-" {
			f, err := os.Open(c.Resources)
			if err != nil {
				return fmt.Errorf("--resources: %w", err)
			}
			defer f.Close()
			in = f
		}
		// Within a bound no honest resources document comes near.
		const limit = 1 << 20
		data, err := io.ReadAll(io.LimitReader(in, limit+1))
		if err == nil && len(data) > limit {
			err = fmt.Errorf("more than %d bytes", limit)
		}
		if err != nil {
			return fmt.Errorf("--resources: %w", err)
		}
		var r specs.LinuxResources
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("--resources: not linux.resources JSON: %w", err)
		}
		return container.Update(log, dir, cgroupRoot, c.ID, &r)
	})
}

// runtimeForm rewrites the runc forms of ps, exec and kill into the hidden
// commands that parse them, telling them from crate's own forms by their
// arguments: `ps ID` (crate's ps takes none), `exec --process FILE ID`
// (crate's exec takes a command), `kill [--all] ID SIGNAL` (crate's kill
// takes -s and any number of containers, never a signal among them).
func runtimeForm(args []string) []string {
	i := commandIndex(args)
	if i < 0 {
		return args
	}
	rest := args[i+1:]
	var positional []string
	ociFlag := false
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case a == "--":
			positional = append(positional, rest[j+1:]...)
			j = len(rest)
		case a == "-p" || a == "--process" || strings.HasPrefix(a, "--process=") || a == "-a" || a == "--all":
			ociFlag = true
		case a == "-f" || a == "--format" || a == "-s" || a == "--signal":
			j++ // ps's and kill's flags that take a value
		case strings.HasPrefix(a, "-"):
		default:
			positional = append(positional, a)
		}
	}
	word := ""
	switch args[i] {
	case "ps":
		if len(positional) > 0 {
			word = "oci-ps"
		}
	case "exec":
		if ociFlag {
			word = "oci-exec"
		}
	case "kill":
		if ociFlag || (len(positional) == 2 && isSignal(positional[1])) {
			word = "oci-kill"
		}
	}
	if word == "" {
		return args
	}
	out := append([]string{}, args...)
	out[i] = word
	return out
}

// isSignal reports whether s names a signal (9, KILL, SIGKILL).
func isSignal(s string) bool {
	_, err := parseSignal(s)
	return err == nil
}

// ociExecCmd is runc's exec with a process file, told from crate's own exec
// by --process (see runtimeForm).
type ociExecCmd struct {
	Process       string `short:"p" required:"" help:"The process to run, as config.json's process." type:"path" placeholder:"FILE"`
	Detach        bool   `short:"d" help:"Return once the process runs, leaving it to the caller."`
	PidFile       string `help:"Write the process's PID here once it runs." type:"path" placeholder:"FILE"`
	ConsoleSocket string `help:"An AF_UNIX socket that gets the master of the process's terminal." type:"path" placeholder:"SOCKET"`
	PreserveFds   int    `help:"Pass this many descriptors from 3 on to the process (not supported yet: 0 only)." placeholder:"N"`

	ID string `arg:"" help:"The container's id."`
}

func (c *ociExecCmd) Run(g *Globals, code *int) error {
	sigs, _ := catchSignals()
	return runtimeCommand(g, "exec", func(log hclog.Logger, dir *state.Dir) error {
		if c.PreserveFds != 0 {
			return fmt.Errorf("--preserve-fds %d: passing descriptors to the process is not supported yet", c.PreserveFds)
		}
		p, err := spec.LoadProcess(c.Process)
		if err != nil {
			return err
		}
		st, err := dir.Get(c.ID)
		if err != nil {
			return err
		}
		if status := container.OCIStatus(log, cgroupRoot, st); status != specs.StateRunning {
			return fmt.Errorf("container %s is %s: a process can only be started in a running container", c.ID, status)
		}
		initPath, err := container.FindInit()
		if err != nil {
			return err
		}
		*code, err = container.ExecProcess(log, container.ExecProcessConfig{
			State: st, Spec: dir.File(st.ID, container.InitSpec), CgroupRoot: cgroupRoot,
			InitPath: initPath, Version: version, Process: p, Detach: c.Detach, PidFile: c.PidFile,
			ConsoleSocket: c.ConsoleSocket, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		}, sigs)
		return err
	})
}
