package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ParseVolume reads one -v/--volume value, HOST:CONTAINER[:ro|rw], into a
// bind mount: the host directory or file HOST appears at CONTAINER.
//
// The options are what Docker gives a -v bind mount: "rbind", so that mounts
// below HOST come along; "rprivate", so that no mount made on either side
// later propagates to the other; "ro" or "rw". Like Docker, crate adds no
// nosuid or nodev: the volume keeps the flags of the host mount it comes
// from, so a volume from a nosuid file system stays nosuid, and "rw" never
// makes a read-only host mount writable.
//
// HOST must exist now: the supervisor checks it here so that a typo reads as
// one sentence, not as a failed step of crate-init. HOST's own symlinks are
// followed, as the host belongs to the user who typed the path; CONTAINER is
// resolved later by crate-init inside the container's root.
func ParseVolume(v string) (specs.Mount, error) {
	const usage = "want HOST:CONTAINER[:ro|rw], like /srv/data:/data or /srv/data:/data:ro"
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return specs.Mount{}, fmt.Errorf("--volume %q: %s", v, usage)
	}
	host, dest := parts[0], parts[1]
	mode := "rw"
	if len(parts) == 3 {
		mode = parts[2]
	}
	if !filepath.IsAbs(host) {
		// Docker would take a bare name for a named volume; crate has none.
		return specs.Mount{}, fmt.Errorf("--volume %q: host path %s must be absolute, like /srv/data", v, host)
	}
	if _, err := os.Stat(host); errors.Is(err, fs.ErrNotExist) {
		return specs.Mount{}, fmt.Errorf("--volume %q: host path %s does not exist", v, host)
	} else if err != nil {
		return specs.Mount{}, fmt.Errorf("--volume %q: host path: %w", v, err)
	}
	if !path.IsAbs(dest) {
		return specs.Mount{}, fmt.Errorf("--volume %q: container path %s must be absolute, like /data", v, dest)
	}
	if path.Clean(dest) == "/" {
		return specs.Mount{}, fmt.Errorf("--volume %q: container path must not be / (the image is the root)", v)
	}
	if mode != "ro" && mode != "rw" {
		return specs.Mount{}, fmt.Errorf("--volume %q: mode %q not known; use ro or rw", v, mode)
	}
	return specs.Mount{
		Destination: path.Clean(dest),
		Type:        "bind",
		Source:      filepath.Clean(host),
		Options:     []string{"rbind", "rprivate", mode},
	}, nil
}

// IsBindMount reports whether m is a bind mount: of type "bind", or, as
// OCI runtimes also accept, any type with a "bind" or "rbind" option. Its
// source is a host path, so crate-init opens it before the root switch.
func IsBindMount(m specs.Mount) bool {
	return m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
}
