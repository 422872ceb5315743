//go:build !linux

package image

import (
	"context"
	"errors"
)

// Unpack needs openat2(2) to keep every write beneath dest, so it exists on Linux only.
func Unpack(ctx context.Context, path, dest string) (Stats, error) {
	return Stats{}, errors.New("unpack: only supported on Linux")
}
