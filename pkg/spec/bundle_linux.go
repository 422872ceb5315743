package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ConfigFileError is a config.json that cannot be read as a configuration:
// not a regular file, or too large.
type ConfigFileError struct {
	Path   string
	Reason string
}

func (e *ConfigFileError) Error() string { return fmt.Sprintf("%s: %s", e.Path, e.Reason) }

// LoadBundle reads and checks dir/config.json (see ParseConfig). The
// returned spec's root.path is absolute and a directory.
func LoadBundle(dir string) (*specs.Spec, error) {
	bundle, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	data, err := readConfig(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, err
	}
	s, err := ParseConfig(data, bundle)
	if err != nil {
		return nil, err
	}
	// The runtime spec requires the directory to exist; saying so now
	// beats a failed pivot_root inside init.
	if info, err := os.Stat(s.Root.Path); err != nil || !info.IsDir() {
		return nil, &InvalidError{Field: "root.path", Reason: fmt.Sprintf("%s is not a directory", s.Root.Path), Err: err}
	}
	return s, nil
}

// readConfig reads at most MaxConfigSize bytes of a regular file. The bundle
// is the engine's, so a symlink is followed as runc follows it; but whatever
// it reaches must be a regular file: O_NONBLOCK keeps the open of a FIFO from
// waiting for a writer, and the fstat refuses it and devices before a read.
func readConfig(name string) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err // *PathError: errors.Is(err, fs.ErrNotExist) holds
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, &ConfigFileError{Path: name, Reason: fmt.Sprintf("not a regular file (%s)", info.Mode().Type())}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxConfigSize {
		return nil, &ConfigFileError{Path: name, Reason: fmt.Sprintf("larger than %d MiB", MaxConfigSize>>20)}
	}
	return data, nil
}

// LoadProcess reads and checks an OCI exec's process file: config.json's
// process, on its own.
func LoadProcess(name string) (*specs.Process, error) {
	data, err := readConfig(name)
	if err != nil {
		return nil, err
	}
	var p *specs.Process
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, decodeError(data, err)
	}
	var c checker
	c.process(p)
	if err := errors.Join(c.errs...); err != nil {
		return nil, err
	}
	return p, nil
}
