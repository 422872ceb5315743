package container

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LibexecInit is where the distribution package installs crate-init.
const LibexecInit = "/usr/libexec/crate/crate-init"

// FindInit returns the crate-init to start: $CRATE_INIT if set, else the one
// next to the running crate, else the packaged one. It must be a static
// binary, because it runs before the container's root exists and must need
// nothing from the image or the host's libraries.
func FindInit() (string, error) {
	if p := os.Getenv("CRATE_INIT"); p != "" {
		return p, checkStatic(p)
	}
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "crate-init"))
	}
	candidates = append(candidates, LibexecInit)
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p, checkStatic(p)
		}
	}
	return "", fmt.Errorf("crate-init not found (looked in %v); build it with `make` or set CRATE_INIT=/path/to/crate-init", candidates)
}

// checkStatic refuses a missing, non-ELF or dynamically linked crate-init.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("crate-init %s: no such file; build it with `make` or fix CRATE_INIT", path)
	case err != nil:
		return fmt.Errorf("crate-init %s: not an executable ELF binary: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("crate-init %s: dynamically linked; it must be static: build it with CGO_ENABLED=0 (`make`)", path)
		}
	}
	return nil
}
