package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/crate-run/crate/pkg/containerlog"
	"github.com/crate-run/crate/pkg/spec"
)

// logLimits reads --log-opt values, the options of docker run's local logging driver
// that crate has: max-size=SIZE (a number of bytes, or with k, m or g) and max-file=N.
// What is not given keeps Docker's default; a later value wins.
func logLimits(opts []string) (containerlog.Limits, error) {
	const sizeHelp = "use a number of bytes or a size with a unit (512k, 20m, 1g)"
	l := containerlog.DefaultLimits
	for _, opt := range opts {
		key, value, ok := strings.Cut(opt, "=")
		switch {
		case !ok:
			return l, fmt.Errorf("--log-opt %q: want KEY=VALUE (max-size=20m, max-file=5)", opt)
		case key == "max-size":
			n, err := spec.ParseSize(value, 1)
			switch {
			case errors.Is(err, spec.ErrNotSize):
				return l, fmt.Errorf("--log-opt %s: %w; %s", opt, err, sizeHelp)
			case errors.Is(err, spec.ErrSizeTooLarge):
				return l, fmt.Errorf("--log-opt %s: %w", opt, err)
			case err != nil || n < containerlog.MinSize:
				return l, fmt.Errorf("--log-opt %s: must be at least 1k, so that a file holds a few lines; %s", opt, sizeHelp)
			}
			l.MaxSize = n
		case key == "max-file":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return l, fmt.Errorf("--log-opt %s: want a number of files, 1 or more (with 1 the file starts over when full)", opt)
			}
			l.MaxFiles = n
		default:
			return l, fmt.Errorf("--log-opt %s: unknown option; crate knows max-size=SIZE and max-file=N", opt)
		}
	}
	return l, nil
}
