package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/crate-run/crate/pkg/logging"
)

// LogCmd is `crate log`: crate's JSON log file, filtered and made readable.
type LogCmd struct {
	Container string `help:"Only entries of this container (an id or its prefix)." placeholder:"ID"`
	Level     string `help:"Only entries at this level or above: trace, debug, info, warn, error." default:"trace" placeholder:"LEVEL"`
	Since     string `help:"Only entries newer than this: a duration (10m, 2h) or an RFC 3339 time." placeholder:"WHEN"`
	JSON      bool   `name:"json" help:"Print the matching JSON lines as they are stored."`
	Follow    bool   `short:"f" help:"Keep printing entries as they are written."`
}

// Run prints the matching entries of --log-file.
func (l *LogCmd) Run(g *Globals, code *int) error {
	level, err := logging.ParseLevel(l.Level)
	if err != nil {
		return err
	}
	since, err := logging.ParseSince(l.Since, time.Now())
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	f := logging.Filter{Container: l.Container, Level: level, Since: since}
	return logging.Show(ctx, os.Stdout, g.LogFile, f, l.JSON, l.Follow)
}
