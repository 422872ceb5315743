// Command crate is the supervisor: it parses the command line, hands the work
// to pkg/container, and turns the outcome into an exit code, the one place
// where errors become 125, 126 or 127.
package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/hashicorp/go-hclog"

	"github.com/crate-run/crate/pkg/image"
	"github.com/crate-run/crate/pkg/logging"
	"github.com/crate-run/crate/pkg/spec"
	"github.com/crate-run/crate/pkg/state"
)

// version and commit are set at build time with -ldflags -X.
var (
	version = "dev"
	commit  = "unknown"
)

// Globals are the flags every command takes. The last five are runc's, so
// that an engine can drive crate with the global flags it gives runc.
type Globals struct {
	LogLevel  string `help:"Level of crate's own messages on stderr: trace, debug, info, warn, error." default:"warn" placeholder:"LEVEL"`
	LogFormat string `help:"Format of crate's messages on stderr, and of the --log file: text or json." enum:"text,json" default:"text" placeholder:"FORMAT"`
	LogFile   string `help:"JSON log every run appends to, at debug level (read it with crate log)." default:"/var/log/crate/crate.log" type:"path" placeholder:"FILE"`
	DataRoot  string `help:"State root: images under DIR/layers and DIR/images, containers' root filesystems under DIR/containers." default:"/var/lib/crate" type:"path" placeholder:"DIR"`
	MinFree   string `help:"Free space an import leaves on the state root's file system, a size (512M, 2G; a bare number is MiB) or a percentage of it (10%); 0 for none. Default: 5% of it or 1 GiB, whichever is smaller." placeholder:"SIZE|PERCENT"`

	Root          string `help:"Where live containers are registered, crate run's and an engine's alike (runc's --root; on a tmpfs: a reboot empties it, as it ends every container)." aliases:"run-dir" default:"/run/crate" type:"path" placeholder:"DIR"`
	Log           string `help:"A file the runtime commands (create, start, ...) append their messages to, as runc's --log: engines read errors back from it." type:"path" placeholder:"FILE"`
	Debug         bool   `help:"Write debug messages to the --log file too (runc's --debug)."`
	SystemdCgroup bool   `help:"Read cgroupsPath as systemd's slice:prefix:name (runc's --systemd-cgroup); needs systemd."`
	Rootless      string `help:"runc's --rootless: false, or auto (crate runs as root; true is refused until rootless containers exist)." default:"auto" enum:"true,false,auto" placeholder:"BOOL"`
}

// Validate refuses a bad --min-free before any command starts.
func (g *Globals) Validate() error {
	_, err := g.reserve()
	return err
}

// reserve reads --min-free.
func (g *Globals) reserve() (image.Reserve, error) {
	s := strings.TrimSpace(g.MinFree)
	if s == "" {
		return image.DefaultReserve, nil
	}
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		p, err := strconv.ParseFloat(pct, 64)
		if err != nil || p < 0 || p >= 100 || math.IsNaN(p) {
			return image.Reserve{}, fmt.Errorf("--min-free %q: want a percentage from 0 to less than 100 (10%%), or a size (512M, 2G)", g.MinFree)
		}
		return image.Reserve{Percent: p}, nil
	}
	n, err := spec.ParseSize(s, 1<<20)
	if errors.Is(err, spec.ErrSizeNotPositive) {
		err = errors.New("must not be negative")
	}
	if err != nil {
		return image.Reserve{}, fmt.Errorf("--min-free %q: %w; use a number of MiB (512) or a size with a unit (512M, 2G), a percentage of the file system (10%%), or 0 for no reserve", g.MinFree, err)
	}
	return image.Reserve{Bytes: n}, nil
}

// runDir is the directory of live containers.
func (g *Globals) runDir() *state.Dir { return &state.Dir{Path: g.Root} }

// rootLogger checks that crate runs as root, saying why it must if not, and
// sets up its logging: stderr as the flags say, and the log file.
func (g *Globals) rootLogger(whyRoot string) (hclog.Logger, func() error, error) {
	if os.Geteuid() != 0 {
		return nil, nil, errors.New(whyRoot + ": run it with sudo")
	}
	return logging.New(logging.Options{Level: g.LogLevel, Format: g.LogFormat, File: g.LogFile})
}

// CLI is crate's command line.
type CLI struct {
	Globals

	Run        RunCmd        `cmd:"" help:"Run a command in a new container."`
	Ps         PsCmd         `cmd:"" help:"List containers."`
	Logs       LogsCmd       `cmd:"" help:"Show the output of a detached container."`
	Exec       ExecCmd       `cmd:"" help:"Run a command in a running container."`
	Stop       StopCmd       `cmd:"" help:"Stop containers: SIGTERM, then SIGKILL after a grace time."`
	Kill       KillCmd       `cmd:"" help:"Send a signal to containers' PID 1."`
	Wait       WaitCmd       `cmd:"" help:"Wait for containers to end and print their exit codes."`
	Rm         RmCmd         `cmd:"" help:"Remove exited containers (with -f, running ones too)."`
	Inspect    InspectCmd    `cmd:"" help:"Show containers' state and spec as JSON."`
	Stats      StatsCmd      `cmd:"" help:"Show containers' memory, CPU and process use."`
	Gc         GcCmd         `cmd:"" name:"gc" help:"Remove what containers whose supervisor died left behind."`
	Image      ImageCmd      `cmd:"" help:"Import, list and remove images."`
	System     SystemCmd     `cmd:"" help:"Show the disk space crate uses."`
	Log        LogCmd        `cmd:"" help:"Show crate's log, filtered by container, level and age."`
	Check      CheckCmd      `cmd:"" help:"Check that this host can run containers, and say what to do where it cannot."`
	Completion CompletionCmd `cmd:"" help:"Print a shell completion script for crate (bash, zsh, fish)."`
	Version    VersionCmd    `cmd:"" help:"Print crate's version."`

	Create   CreateCmd   `cmd:"" group:"runtime" help:"Create a container from an OCI bundle, its command not yet started (runc's create, for engines)."`
	Start    StartCmd    `cmd:"" group:"runtime" help:"Start the command of a created container (runc's start)."`
	State    StateCmd    `cmd:"" group:"runtime" help:"Print a container's OCI state as JSON (runc's state)."`
	Delete   DeleteCmd   `cmd:"" group:"runtime" help:"Delete a container made by create (runc's delete)."`
	List     ListCmd     `cmd:"" group:"runtime" help:"List the containers made by create (runc's list)."`
	Pause    PauseCmd    `cmd:"" group:"runtime" help:"Freeze every process of a container (runc's pause)."`
	Resume   ResumeCmd   `cmd:"" group:"runtime" help:"Thaw a paused container (runc's resume)."`
	Update   UpdateCmd   `cmd:"" group:"runtime" help:"Change a container's cgroup limits (runc's update)."`
	Features FeaturesCmd `cmd:"" group:"runtime" help:"Print what crate supports of the OCI runtime spec, as JSON (runc's features)."`
	OCIPs    ociPsCmd    `cmd:"" name:"oci-ps" hidden:"" help:"runc's ps ID: the host PIDs of a container (crate ps ID)."`
	OCIKill  ociKillCmd  `cmd:"" name:"oci-kill" hidden:"" help:"runc's kill ID SIGNAL (crate kill ID SIGNAL, crate kill --all ID SIGNAL)."`
	OCIExec  ociExecCmd  `cmd:"" name:"oci-exec" hidden:"" help:"runc's exec --process FILE ID (crate exec --process FILE ID)."`

	Man ManCmd `cmd:"" hidden:"" help:"Write crate's manual pages (crate.1, crate-run.1, ...) to a directory."`

	Supervise SuperviseCmd `cmd:"" hidden:"" help:"Supervise a detached container (started by crate run -d)."`
}

// runCLI is the command line of `crate run` alone. kong builds its model of
// a command line by reflection over every flag of every command, about a
// millisecond for CLI; crate run, whose start users wait for, pays only for
// its own.
type runCLI struct {
	Globals

	Run RunCmd `cmd:"" help:"Run a command in a new container."`
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run parses args, runs the command and returns the exit code.
func run(args []string) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-v") {
		printRuntimeVersion()
		return 0
	}
	args = runtimeForm(args)
	full := &CLI{}
	var cli any = full
	globals := &full.Globals
	if commandWord(args) == "run" {
		r := &runCLI{}
		cli, globals = r, &r.Globals
	}
	parser, err := kong.New(cli,
		kong.Name("crate"),
		kong.Description("crate runs a command in a Linux container: its own PID, mount, UTS, IPC and network namespaces, its own root filesystem, and cgroup limits."),
		kong.UsageOnError(),
		// A bad flag is bad input: 125, as for every failure of crate itself.
		kong.Exit(func(code int) {
			if code != 0 {
				code = exitCrateFailed
			}
			os.Exit(code)
		}),
	)
	if err != nil {
		panic(err) // a mistake in the CLI struct, not in the input
	}
	args, err = splitRunArgs(parser.Model.Node, args)
	if err == nil {
		var ctx *kong.Context
		ctx, err = parser.Parse(args)
		if err == nil {
			var code int
			err = ctx.Run(globals, &code)
			if err == nil {
				return code
			}
			// A command logs the errors it meets once its logger exists; the
			// others (not root, a bad --log-file) must still be said.
			if !errors.As(err, new(loggedError)) {
				fmt.Fprintf(os.Stderr, "crate: %v\n", err)
			}
			return exitCode(err)
		}
	}
	fmt.Fprintf(os.Stderr, "crate: %v\n", err)
	return exitCrateFailed
}
