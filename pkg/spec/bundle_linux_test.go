package spec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLoadBundle(t *testing.T) {
	good := fixture(t, "containerd-ctr.json")
	tests := []struct {
		name  string
		setup func(t *testing.T, config string)
		check func(t *testing.T, err error)
	}{
		{"regular file", func(t *testing.T, config string) {
			writeFile(t, config, good)
		}, wantNoError},
		{"symlink to a regular file", func(t *testing.T, config string) {
			other := filepath.Join(t.TempDir(), "real.json")
			writeFile(t, other, good)
			if err := os.Symlink(other, config); err != nil {
				t.Fatal(err)
			}
		}, wantNoError},
		{"no rootfs", func(t *testing.T, config string) {
			writeFile(t, config, good)
			if err := os.Remove(filepath.Join(filepath.Dir(config), "rootfs")); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, err error) {
			var invalid *InvalidError
			if !errors.As(err, &invalid) || invalid.Field != "root.path" {
				t.Errorf("err = %v, want *InvalidError for root.path", err)
			}
		}},
		{"missing", func(t *testing.T, config string) {}, func(t *testing.T, err error) {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("err = %v, want fs.ErrNotExist", err)
			}
		}},
		// Nobody ever opens the FIFO for writing: without O_NONBLOCK the
		// open would wait for ever.
		{"fifo", func(t *testing.T, config string) {
			if err := unix.Mkfifo(config, 0o600); err != nil {
				t.Fatal(err)
			}
		}, wantFileError},
		{"directory", func(t *testing.T, config string) {
			mkdir(t, config)
		}, wantFileError},
		{"too large", func(t *testing.T, config string) {
			f, err := os.Create(config)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(MaxConfigSize + 1); err != nil {
				t.Fatal(err)
			}
		}, wantFileError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			mkdir(t, filepath.Join(dir, "rootfs"))
			tt.setup(t, filepath.Join(dir, "config.json"))
			s, err := LoadBundle(dir)
			tt.check(t, err)
			if err == nil && s.Root.Path != filepath.Join(dir, "rootfs") {
				t.Errorf("root.path = %q, want it under %s", s.Root.Path, dir)
			}
		})
	}
}

// TestLoadBundleRelativeDir: a relative bundle directory still yields an
// absolute root.
func TestLoadBundleRelativeDir(t *testing.T) {
	dir := t.TempDir()
	mkdir(t, filepath.Join(dir, "rootfs"))
	writeFile(t, filepath.Join(dir, "config.json"), fixture(t, "containerd-ctr.json"))
	t.Chdir(filepath.Dir(dir))
	s, err := LoadBundle(filepath.Base(dir))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "rootfs"); s.Root.Path != want {
		t.Errorf("root.path = %q, want %q", s.Root.Path, want)
	}
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, name string) {
	t.Helper()
	if err := os.Mkdir(name, 0o700); err != nil {
		t.Fatal(err)
	}
}

func wantNoError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("LoadBundle: %v", err)
	}
}

func wantFileError(t *testing.T, err error) {
	t.Helper()
	if !errors.As(err, new(*ConfigFileError)) {
		t.Errorf("err = %v, want *ConfigFileError", err)
	}
}
