package initproc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/crate-run/crate/pkg/initlog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/testutil"
)

func TestBindAttrs(t *testing.T) {
	tests := []struct {
		options   []string
		recursive bool
		set       uint64
		wantErr   string
	}{
		{options: nil},
		{options: []string{"bind"}},
		{options: []string{"rbind", "rprivate", "rw"}, recursive: true},
		{options: []string{"rbind", "rprivate", "ro"}, recursive: true, set: unix.MOUNT_ATTR_RDONLY},
		{options: []string{"ro", "nosuid", "nodev", "noexec"}, set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC},
		{options: []string{"ro", "nosuid", "rw", "suid"}, set: 0},
		{options: []string{"rbind", "size=64m"}, wantErr: `option "size=64m" not supported`},
		{options: []string{"rbind", "rslave"}, wantErr: `option "rslave" not supported`},
	}
	for _, tt := range tests {
		recursive, set, err := bindAttrs(tt.options)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("bindAttrs(%q) error = %v, want %q", tt.options, err, tt.wantErr)
			}
			continue
		}
		if err != nil || recursive != tt.recursive || set != tt.set {
			t.Errorf("bindAttrs(%q) = %v, %#x, %v; want %v, %#x", tt.options, recursive, set, err, tt.recursive, tt.set)
		}
	}
}

// Bad options and relative sources are refused before any system call, so
// this needs no root.
func TestOpenVolumesRefuses(t *testing.T) {
	tests := []struct {
		m    specs.Mount
		want string
	}{
		{specs.Mount{Type: "bind", Source: "/tmp", Destination: "/x", Options: []string{"rbind", "size=1m"}}, `volume /tmp:/x: bind mount option "size=1m" not supported`},
		{specs.Mount{Type: "bind", Source: "tmp", Destination: "/x"}, `volume tmp:/x: source "tmp" must be an absolute host path`},
	}
	for _, tt := range tests {
		mounts := []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}, tt.m}
		if _, err := openVolumes(mounts); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("openVolumes(%+v) = %v, want %q", tt.m, err, tt.want)
		}
	}
	vs, err := openVolumes(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := vs.attach(3, specs.Mount{Source: "/a", Destination: "/b"}); err == nil {
		t.Error("attach of a volume never opened succeeded")
	}
}

// The tests below mount, so each case runs in a child: this test binary
// again, born in mount and PID namespaces of its own, as crate-init is. It
// makes every mount in its namespace private before anything else, so that
// nothing it mounts can propagate to the host; its mounts vanish when it
// exits. What it creates with mkdir would not vanish: the test checks after
// each case that the host's /etc got nothing.
//
// Each case's directory holds root/ (the image), src/ (a host directory with
// the marker file in it) and src.conf (a host file).
const (
	caseEnv   = "CRATE_TEST_VOLUME_CASE"
	dirEnv    = "CRATE_TEST_VOLUME_DIR"
	hostNsEnv = "CRATE_TEST_HOST_MNT_NS"

	marker      = "crate-volume-marker"
	markerText  = "from the host"
	confText    = "conf from the host"
	escapeDir   = "/etc/crate-volume-test-dir" // where the image's dangling symlinks point
	escapeFile  = "/etc/crate-volume-test.conf"
	escapeChild = "/etc/crate-volume-test-sub"
)

// hostPathsNeverMade are what a mount that escaped the root would show or
// create on the host. mkdir and mknod are not namespaced: they would stay.
var hostPathsNeverMade = []string{"/etc/" + marker, escapeDir, escapeFile, escapeChild}

type volumeCase struct {
	name string
	// image builds the image's tree in root, on the test's side.
	image func(t *testing.T, root string)
	// inChild runs in the child's private mount namespace.
	inChild func(dir string) error
}

var volumeCases = []volumeCase{
	{
		name: "directory",
		inChild: func(dir string) error {
			root, src, _ := casePaths(dir)
			if err := attach(root, src, "/data/vol"); err != nil {
				return err
			}
			return wantContent(filepath.Join(root, "data/vol", marker), markerText)
		},
	},
	{
		name: "absolute symlink to /etc",
		image: func(t *testing.T, root string) {
			mkdir(t, root, "etc")
			symlink(t, root, "data", "/etc")
		},
		inChild: landsInRootEtc("/data"),
	},
	{
		name: "relative symlink climbing out",
		image: func(t *testing.T, root string) {
			mkdir(t, root, "etc")
			mkdir(t, root, "a/b")
			// Enough ".." to reach the host's "/" from any temp dir.
			symlink(t, root, "a/b/data", strings.Repeat("../", 32)+"etc")
		},
		inChild: landsInRootEtc("/a/b/data"),
	},
	{
		name: "symlink as a parent",
		image: func(t *testing.T, root string) {
			symlink(t, root, "data", "/etc")
		},
		inChild: func(dir string) error {
			root, src, _ := casePaths(dir)
			if err := attach(root, src, "/data/"+filepath.Base(escapeChild)); err != nil {
				return err
			}
			return wantContent(filepath.Join(root, escapeChild, marker), markerText)
		},
	},
	{
		name: "dangling symlink",
		image: func(t *testing.T, root string) {
			symlink(t, root, "data", escapeDir)
		},
		inChild: func(dir string) error {
			root, src, _ := casePaths(dir)
			if err := attach(root, src, "/data"); err != nil {
				return err
			}
			return wantContent(filepath.Join(root, escapeDir, marker), markerText)
		},
	},
	{
		name: "read-only",
		inChild: func(dir string) error {
			root, src, _ := casePaths(dir)
			if err := attach(root, src, "/data", "rbind", "ro"); err != nil {
				return err
			}
			if err := wantContent(filepath.Join(root, "data", marker), markerText); err != nil {
				return err
			}
			err := os.WriteFile(filepath.Join(root, "data/new"), nil, 0o644)
			if !errors.Is(err, unix.EROFS) {
				return fmt.Errorf("write in a read-only volume: %v, want EROFS", err)
			}
			// Only the volume is read-only, not the host directory.
			return os.WriteFile(filepath.Join(src, "new"), nil, 0o644)
		},
	},
	{
		name: "file",
		inChild: func(dir string) error {
			root, _, srcFile := casePaths(dir)
			if err := attach(root, srcFile, "/etc/app.conf", "bind", "ro"); err != nil {
				return err
			}
			return wantContent(filepath.Join(root, "etc/app.conf"), confText)
		},
	},
	{
		name: "file through a dangling symlink",
		image: func(t *testing.T, root string) {
			symlink(t, root, "app.conf", escapeFile)
		},
		inChild: func(dir string) error {
			root, _, srcFile := casePaths(dir)
			if err := attach(root, srcFile, "/app.conf"); err != nil {
				return err
			}
			return wantContent(filepath.Join(root, escapeFile), confText)
		},
	},
	{
		name:  "file onto a directory",
		image: func(t *testing.T, root string) { mkdir(t, root, "app.conf") },
		inChild: func(dir string) error {
			root, _, srcFile := casePaths(dir)
			return wantError(attach(root, srcFile, "/app.conf"), "container path /app.conf is a directory")
		},
	},
	{
		name: "directory onto a file",
		image: func(t *testing.T, root string) {
			if err := os.WriteFile(filepath.Join(root, "data"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		inChild: func(dir string) error {
			root, src, _ := casePaths(dir)
			return wantError(attach(root, src, "/data"), "not a directory")
		},
	},
	{
		name:  "symlink to the root",
		image: func(t *testing.T, root string) { symlink(t, root, "data", "../..") },
		inChild: func(dir string) error {
			root, src, _ := casePaths(dir)
			return wantError(attach(root, src, "/data"), "resolves to the root itself")
		},
	},
	{
		// In init, volumes are opened before "/" is made private: a clone of
		// a shared host mount would share what is mounted on it later.
		name: "private from a shared source",
		inChild: func(dir string) error {
			root, _, _ := casePaths(dir)
			shared := filepath.Join(dir, "shared")
			if err := os.Mkdir(shared, 0o755); err != nil {
				return err
			}
			if err := unix.Mount("tmpfs", shared, "tmpfs", 0, ""); err != nil {
				return fmt.Errorf("mount tmpfs on %s: %w", shared, err)
			}
			if err := unix.Mount("", shared, "", unix.MS_SHARED, ""); err != nil {
				return fmt.Errorf("make %s shared: %w", shared, err)
			}
			if err := attach(root, shared, "/data", "rbind", "rprivate"); err != nil {
				return err
			}
			sub := filepath.Join(root, "data/sub")
			if err := os.Mkdir(sub, 0o755); err != nil {
				return err
			}
			if err := unix.Mount("tmpfs", sub, "tmpfs", 0, ""); err != nil {
				return fmt.Errorf("mount tmpfs on %s: %w", sub, err)
			}
			points, err := mountPointsUnder(shared)
			if err != nil {
				return err
			}
			if !slices.Equal(points, []string{shared}) {
				return fmt.Errorf("a mount in the volume reached its source: mounts under %s: %q", shared, points)
			}
			return nil
		},
	},
	{name: "init with pivot_root", image: initImage, inChild: initInChild(false)},
	{name: "init with chroot (--no-pivot)", image: initImage, inChild: initInChild(true)},
}

// landsInRootEtc is the CVE-2021-30465 check: dest is a symlink to the
// image's /etc; the volume must land on root/etc, never on the host's /etc.
// This child has not switched root, so the host's /etc is in sight, as it
// would be to a careless mount(2).
func landsInRootEtc(dest string) func(dir string) error {
	return func(dir string) error {
		root, src, _ := casePaths(dir)
		before, err := mountPointsUnder("/etc")
		if err != nil {
			return err
		}
		if err := attach(root, src, dest); err != nil {
			return err
		}
		if _, err := os.Lstat("/etc/" + marker); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("the volume shows in the host's /etc (lstat: %v)", err)
		}
		if err := wantContent(filepath.Join(root, "etc", marker), markerText); err != nil {
			return err
		}
		after, err := mountPointsUnder("/etc")
		if err != nil {
			return err
		}
		if !slices.Equal(before, after) {
			return fmt.Errorf("mounts on the host's /etc changed: %q, then %q", before, after)
		}
		points, err := mountPointsUnder(filepath.Join(root, "etc"))
		if err != nil {
			return err
		}
		if !slices.Contains(points, filepath.Join(root, "etc")) {
			return fmt.Errorf("no mount on %s/etc; mounts there: %q", root, points)
		}
		return nil
	}
}

// initImage is the image of the init cases: /srv is a symlink to the image's
// /data, which exists.
func initImage(t *testing.T, root string) {
	mkdir(t, root, "data")
	symlink(t, root, "srv", "/data")
}

// initInChild runs init's own sequence with a few volumes: openVolumes, the
// root switch, mountFileSystems, attachVolumes; then checks what the container sees. The tmpfs
// comes first in the spec and the volume at /mnt/vol lands on it: order is
// kept.
func initInChild(noPivot bool) func(dir string) error {
	return func(dir string) error {
		root, src, srcFile := casePaths(dir)
		bind := func(source, dest string, options ...string) specs.Mount {
			return specs.Mount{Type: "bind", Source: source, Destination: dest, Options: options}
		}
		mounts := []specs.Mount{
			{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=755"}},
			bind(src, "/mnt/vol", "rbind", "rprivate", "rw"),
			bind(src, "/ro", "rbind", "rprivate", "ro"),
			bind(srcFile, "/etc/app.conf", "rbind", "rprivate", "ro"),
			bind(src, "/srv", "rbind", "rprivate", "rw"),
		}
		var log *initlog.Logger // writes nothing
		volumes, err := openVolumes(mounts)
		if err != nil {
			return fmt.Errorf("open volumes: %w", err)
		}
		defer volumes.Close()
		if err := switchRoot(log, root, nil, unix.MS_PRIVATE, noPivot); err != nil {
			return fmt.Errorf("switch root: %w", err)
		}
		fs, err := mountFileSystems(log, mounts)
		if err != nil {
			return fmt.Errorf("mount: %w", err)
		}
		defer fs.Close()
		if err := attachVolumes(log, mounts, volumes); err != nil {
			return fmt.Errorf("attach volumes: %w", err)
		}
		for _, p := range []string{"/mnt/vol/" + marker, "/ro/" + marker, "/data/" + marker} {
			if err := wantContent(p, markerText); err != nil {
				return err
			}
		}
		if err := wantContent("/etc/app.conf", confText); err != nil {
			return err
		}
		if err := os.WriteFile("/ro/new", nil, 0o644); !errors.Is(err, unix.EROFS) {
			return fmt.Errorf("write in a read-only volume: %v, want EROFS", err)
		}
		return os.WriteFile("/mnt/vol/new", []byte("from the container"), 0o644)
	}
}

func TestVolumes(t *testing.T) {
	testutil.RequireRoot(t)
	hostNs, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	wantHostUntouched(t, "before the tests")
	for _, c := range volumeCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			root, src, srcFile := casePaths(dir)
			mkdir(t, root, ".")
			mkdir(t, src, ".")
			if err := os.WriteFile(filepath.Join(src, marker), []byte(markerText), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(srcFile, []byte(confText), 0o644); err != nil {
				t.Fatal(err)
			}
			if c.image != nil {
				c.image(t, root)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestVolumeChild$")
			cmd.Env = append(os.Environ(), caseEnv+"="+c.name, dirEnv+"="+dir, hostNsEnv+"="+hostNs)
			// A new PID namespace too, as crate-init has.
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			wantHostUntouched(t, "after "+c.name)
		})
	}
}

// TestVolumeChild is the child of TestVolumes, and does nothing otherwise.
func TestVolumeChild(t *testing.T) {
	name := os.Getenv(caseEnv)
	if name == "" {
		t.Skip("the child process of TestVolumes")
	}
	if err := runVolumeCase(name, os.Getenv(dirEnv)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runVolumeCase(name, dir string) error {
	// Refuse to mount anything unless this process has a mount namespace of
	// its own, and make it private before anything else.
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return err
	}
	if ns == os.Getenv(hostNsEnv) {
		return fmt.Errorf("the child shares the test's mount namespace %s: refusing to mount", ns)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private in the child: %w", err)
	}
	for _, c := range volumeCases {
		if c.name == name {
			return c.inChild(dir)
		}
	}
	return fmt.Errorf("no volume case %q", name)
}

func casePaths(dir string) (root, src, srcFile string) {
	return filepath.Join(dir, "root"), filepath.Join(dir, "src"), filepath.Join(dir, "src.conf")
}

// attach does what init does with one volume: open it, then attach it at
// dest inside root.
func attach(root, source, dest string, options ...string) error {
	tree, err := openTree(specs.Mount{Type: "bind", Source: source, Destination: dest, Options: options})
	if err != nil {
		return err
	}
	defer tree.Close()
	return attachTree(root, tree, dest)
}

func wantContent(path, want string) error {
	got, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if string(got) != want {
		return fmt.Errorf("%s holds %q, want %q", path, got, want)
	}
	return nil
}

func wantError(err error, want string) error {
	if err == nil || !strings.Contains(err.Error(), want) {
		return fmt.Errorf("error %v, want one containing %q", err, want)
	}
	return nil
}

// mountPointsUnder lists the mount points at or below dir in this process's
// mount table.
func mountPointsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := fields[4] // the mount point, as this process sees it
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	return points, sc.Err()
}

func wantHostUntouched(t *testing.T, when string) {
	t.Helper()
	for _, p := range hostPathsNeverMade {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: the host has %s (lstat: %v); a volume escaped its root, or a stale file needs removing", when, p, err)
		}
	}
}

func mkdir(t *testing.T, root, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, root, name, target string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
		t.Fatal(err)
	}
}
