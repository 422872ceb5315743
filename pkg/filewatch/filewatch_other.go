//go:build !linux

package filewatch

import (
	"context"
	"errors"
)

// Watch needs inotify; following a file is Linux-only like the rest of crate.
type Watch struct{}

func Modify(context.Context, string) (*Watch, error) {
	return nil, errors.New("follow a file: needs inotify (linux only)")
}

func Dir(context.Context, string) (*Watch, error) {
	return nil, errors.New("follow a directory: needs inotify (linux only)")
}

func (*Watch) Wait(context.Context) error { return nil }
func (*Watch) Close()                     {}
