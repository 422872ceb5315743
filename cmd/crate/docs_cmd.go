package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/alecthomas/kong"

	"github.com/crate-run/crate/pkg/clidoc"
)

// CompletionCmd is `crate completion SHELL`: a completion script made from
// the command-line model, so it offers what --help lists.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"Shell: bash, zsh or fish."`
}

// Run prints the script; kong binds ctx, whose Model is the full CLI.
func (c CompletionCmd) Run(ctx *kong.Context) error {
	return clidoc.Completion(ctx.Model, c.Shell, os.Stdout)
}

// ManCmd is `crate man DIR`: crate's manual pages, made from the same model.
type ManCmd struct {
	Dir string `arg:"" type:"path" help:"Directory to write the manual pages to."`
}

// Run writes crate.1 and one page per command into Dir.
func (c ManCmd) Run(ctx *kong.Context) error {
	pages, err := clidoc.ManPages(ctx.Model, manOptions())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", c.Dir, err)
	}
	names := make([]string, 0, len(pages))
	for name := range pages {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		file := filepath.Join(c.Dir, name)
		if err := os.WriteFile(file, pages[name], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", file, err)
		}
	}
	return nil
}

// manOptions are what crate's pages say that the model does not: the exit
// codes (decided in exitcode.go and by the container's command) and a date.
func manOptions() clidoc.ManOptions {
	return clidoc.ManOptions{
		Version: version,
		Date:    manDate(),
		Summary: "run commands in Linux containers",
		ExitStatus: []clidoc.ExitStatus{
			{Code: "0", Meaning: "The command succeeded; for crate run, the container's command exited 0."},
			{Code: "1-124", Meaning: "crate run and crate exec: the exit code of the container's command (which may be any code, those below too)."},
			{Code: strconv.Itoa(exitCrateFailed), Meaning: "crate itself failed: bad input, or a step before the command ran."},
			{Code: strconv.Itoa(exitNotExecutable), Meaning: "The container's command exists but cannot be executed."},
			{Code: strconv.Itoa(exitNotFound), Meaning: "The container's command does not exist."},
			{Code: "128+N", Meaning: "The container's command was killed by signal N (137 also when it was OOM-killed)."},
		},
	}
}

// manDate is the date in the pages' footer: SOURCE_DATE_EPOCH's when set,
// so that a packaged build makes the same pages every time, else today.
func manDate() string {
	t := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
			t = time.Unix(sec, 0)
		}
	}
	return t.UTC().Format("2006-01-02")
}
