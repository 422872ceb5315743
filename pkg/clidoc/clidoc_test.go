package clidoc

import (
	"testing"

	"github.com/alecthomas/kong"
)

// toyCLI is a small command line with each thing the generators handle:
// global flags (a bool with a short form, a path with a default, an enum),
// a command with an alias, a detailed help, a negatable flag, a hidden flag,
// a directory flag and positional arguments, nested subcommands, and a
// hidden command.
type toyCLI struct {
	Verbose bool   `short:"v" help:"Say more."`
	Config  string `type:"path" default:"/etc/toy.conf" placeholder:"FILE" help:"Configuration file."`
	Color   string `enum:"auto,always,never" default:"auto" help:"When to color the output."`

	Build  toyBuild  `cmd:"" aliases:"b" help:"Build a target."`
	Remote toyRemote `cmd:"" help:"Manage remotes."`
	Secret toySecret `cmd:"" hidden:"" help:"Not for users."`
}

type toyBuild struct {
	Jobs   int    `short:"j" default:"4" help:"Jobs to run at once."`
	Out    string `type:"existingdir" placeholder:"DIR" help:"Output directory."`
	Cache  bool   `negatable:"" default:"true" help:"Use the build cache."`
	Tricky string `hidden:"" help:"A hidden flag."`

	Target string   `arg:"" help:"What to build."`
	Files  []string `arg:"" optional:"" type:"path" help:"Extra input files."`
}

// Help is the detailed help of toy build: text roff must not mistake for
// requests or escapes.
func (toyBuild) Help() string {
	return "Builds TARGET in C:\\work - or wherever.\n.TH this is not a request\n'neither is this\n\nA second paragraph."
}

type toyRemote struct {
	Add toyRemoteAdd `cmd:"" help:"Add a remote."`
	Rm  toyRemoteRm  `cmd:"" help:"Remove a remote."`
}

type toyRemoteAdd struct {
	Name string `arg:"" help:"Name of the remote."`
	URL  string `arg:"" name:"url" help:"Where it is."`
}

type toyRemoteRm struct {
	Force bool   `short:"f" help:"Remove it even if in use."`
	Name  string `arg:"" help:"Name of the remote."`
}

type toySecret struct{}

// toyApp is the kong model of toyCLI, named "toy".
func toyApp(t *testing.T) *kong.Application {
	t.Helper()
	parser, err := kong.New(&toyCLI{}, kong.Name("toy"), kong.Description("toy builds things."))
	if err != nil {
		t.Fatal(err)
	}
	return parser.Model
}
