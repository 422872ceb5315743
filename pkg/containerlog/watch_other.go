//go:build !linux

package containerlog

import (
	"context"
	"errors"
)

// modifyWatch needs inotify; following a log is Linux-only like the rest of crate.
type modifyWatch struct{}

func watchModify(context.Context, string) (*modifyWatch, error) {
	return nil, errors.New("follow the container log: needs inotify (linux only)")
}

func (*modifyWatch) wait(context.Context) error { return nil }
func (*modifyWatch) close()                     {}
