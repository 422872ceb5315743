package image

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crate-run/crate/pkg/testutil"

	"golang.org/x/sys/unix"
)

// target is an unpack destination with a sentinel directory beside it: an archive that
// escapes dest lands in the sentinel, where the test looks for it.
type target struct {
	dest     string // <tmp>/root, where the archive goes
	sentinel string // <tmp>/outside, which must never change
	canary   string // <tmp>/outside/canary
}

const canaryText = "untouched"

func newTarget(t *testing.T) target {
	t.Helper()
	base := t.TempDir()
	tg := target{
		dest:     filepath.Join(base, "root"),
		sentinel: filepath.Join(base, "outside"),
		canary:   filepath.Join(base, "outside", "canary"),
	}
	for _, d := range []string{tg.dest, tg.sentinel} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(tg.canary, []byte(canaryText), 0o644); err != nil {
		t.Fatal(err)
	}
	return tg
}

// requireUntouched fails if anything beside dest changed: the sentinel holds only the
// canary, unchanged, and the parent holds only dest and the sentinel.
func (tg target) requireUntouched(t *testing.T) {
	t.Helper()
	for dir, want := range map[string]string{
		filepath.Dir(tg.dest): "outside root",
		tg.sentinel:           "canary",
	} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if got := strings.Join(names, " "); got != want {
			t.Errorf("%s holds %q, want %q: something was written outside dest", dir, got, want)
		}
	}
	b, err := os.ReadFile(tg.canary)
	if err != nil || string(b) != canaryText {
		t.Errorf("canary = %q, %v; want %q", b, err, canaryText)
	}
	var st unix.Stat_t
	if err := unix.Stat(tg.canary, &st); err != nil {
		t.Fatal(err)
	}
	if st.Nlink != 1 {
		t.Errorf("canary has %d links: an archive hardlinked to it", st.Nlink)
	}
}

func (tg target) requireEmpty(t *testing.T) {
	t.Helper()
	ents, err := os.ReadDir(tg.dest)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("dest holds %d entries, want none: bad input must be refused before writing", len(ents))
	}
}

// unpack writes data as an archive and unpacks it into a fresh target.
func unpack(t *testing.T, data []byte) (target, Stats, error) {
	t.Helper()
	tg := newTarget(t)
	stats, err := Unpack(context.Background(), writeArchive(t, "rootfs.tar", data), tg.dest)
	return tg, stats, err
}

func unpackOK(t *testing.T, data []byte) (target, Stats) {
	t.Helper()
	tg, stats, err := unpack(t, data)
	if err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	tg.requireUntouched(t)
	return tg, stats
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lstat(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return st
}

func TestUnpackRoundTripsEachCompression(t *testing.T) {
	big := randomBytes(copyBufferSize + 12345) // more than one copy buffer
	plain := tarball(t,
		dir("./"),
		dir("./etc/"),
		file("./etc/hostname", "crate\n"),
		file("./big", big),
		symlink("./etc/localtime", "/usr/share/zoneinfo/UTC"),
		hardlink("./etc/hostname.bak", "./etc/hostname"),
		file("./usr/bin/tool", "#!/bin/sh\n"), // parents not listed
		entry{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "./run/fifo", Mode: 0o600, ModTime: epoch}},
	)
	for _, c := range []Compression{None, Gzip, Zstd, Xz} {
		t.Run(string(c), func(t *testing.T) {
			tg, stats := unpackOK(t, compress(t, c, plain))
			if got := readFile(t, filepath.Join(tg.dest, "etc/hostname")); got != "crate\n" {
				t.Errorf("etc/hostname = %q", got)
			}
			if got := readFile(t, filepath.Join(tg.dest, "big")); got != big {
				t.Errorf("big differs (len %d, want %d)", len(got), len(big))
			}
			if got := readFile(t, filepath.Join(tg.dest, "usr/bin/tool")); got != "#!/bin/sh\n" {
				t.Errorf("usr/bin/tool = %q", got)
			}
			if st := lstat(t, filepath.Join(tg.dest, "usr")); st.Mode&0o7777 != 0o755 {
				t.Errorf("implicit parent usr has mode %o, want 755", st.Mode&0o7777)
			}
			want := Stats{Bytes: int64(len(big) + len("crate\n#!/bin/sh\n")), Files: 3, Dirs: 2, Symlinks: 1, Hardlinks: 1, Others: 1}
			stats.Duration = 0
			if stats != want {
				t.Errorf("stats = %+v, want %+v", stats, want)
			}
		})
	}
}

func TestUnpackRefusesBadInput(t *testing.T) {
	for _, tc := range badInputs() {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t)
			p := tc.path(t)
			_, err := Unpack(context.Background(), p, tg.dest)
			requireImageError(t, err, p, tc.reason)
			t.Log(err)
			tg.requireUntouched(t)
			// A cut or damaged archive is found only on the way; anything else is
			// refused before the first write.
			if !strings.Contains(tc.reason, "truncated") && !strings.Contains(tc.reason, "corrupt") {
				tg.requireEmpty(t)
			}
		})
	}
}

func TestUnpackRefusesEscapes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries func(tg target) []entry
		reason  string
	}{
		{"absolute name", func(tg target) []entry { return []entry{file(tg.canary, "evil")} },
			"path is absolute"},
		{"dot-dot name", func(target) []entry { return []entry{file("../outside/evil", "evil")} },
			`entry "../outside/evil": path escapes the root`},
		{"dot-dot after a directory", func(target) []entry { return []entry{file("./a/../../outside/evil", "evil")} },
			"path escapes the root"},
		{"through absolute symlink", func(tg target) []entry {
			return []entry{symlink("link", tg.sentinel), file("link/evil", "evil")}
		}, `entry "link/evil": passes through symlink "link"`},
		{"through relative symlink", func(target) []entry {
			return []entry{symlink("link", "../../../../../../.."), file("link/evil", "evil")}
		}, `passes through symlink "link"`},
		{"through nested symlink", func(target) []entry {
			return []entry{dir("a/"), symlink("a/b", "../../outside"), dir("a/b/c/"), file("a/b/c/evil", "evil")}
		}, `passes through symlink "a/b"`},
		{"directory through symlink", func(tg target) []entry {
			return []entry{symlink("link", tg.sentinel), dir("link/sub/")}
		}, `passes through symlink "link"`},
		{"symlink through symlink", func(tg target) []entry {
			return []entry{symlink("link", tg.sentinel), symlink("link/evil", "/")}
		}, `passes through symlink "link"`},
		{"hardlink to absolute target", func(tg target) []entry { return []entry{hardlink("pw", tg.canary)} },
			"is outside the root"},
		{"hardlink to dot-dot target", func(target) []entry { return []entry{hardlink("pw", "../outside/canary")} },
			`hardlink target "../outside/canary" is outside the root`},
		{"hardlink through symlink", func(tg target) []entry {
			return []entry{symlink("link", tg.sentinel), hardlink("pw", "link/canary")}
		}, `hardlink target "link/canary" passes through symlink "link"`},
		{"hardlink named through symlink", func(tg target) []entry {
			return []entry{file("a", "a"), symlink("link", tg.sentinel), hardlink("link/evil", "a")}
		}, `passes through symlink "link"`},
		{"fifo through symlink", func(tg target) []entry {
			return []entry{symlink("link", tg.sentinel),
				{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "link/fifo", Mode: 0o644}}}
		}, `passes through symlink "link"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t)
			p := writeArchive(t, "evil.tar", tarball(t, tc.entries(tg)...))
			_, err := Unpack(context.Background(), p, tg.dest)
			requireImageError(t, err, p, tc.reason)
			tg.requireUntouched(t)
		})
	}
}

func TestUnpackNeverFollowsSymlinks(t *testing.T) {
	// Symlinks may point anywhere — rootfs symlinks are absolute all the time — but a
	// later entry with the same name replaces the symlink instead of writing through it.
	tg := newTarget(t)
	archive := tarball(t,
		symlink("etc/passwd", tg.canary),
		symlink("outside", tg.sentinel),
		symlink("up", "../../.."),
		file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
		symlink("d", tg.sentinel),
		dir("d/"),
	)
	if _, err := Unpack(context.Background(), writeArchive(t, "rootfs.tar", archive), tg.dest); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	tg.requireUntouched(t)
	if got := readFile(t, filepath.Join(tg.dest, "etc/passwd")); !strings.HasPrefix(got, "root:") {
		t.Errorf("etc/passwd = %q", got)
	}
	for name, want := range map[string]string{"outside": tg.sentinel, "up": "../../.."} {
		if got, err := os.Readlink(filepath.Join(tg.dest, name)); err != nil || got != want {
			t.Errorf("readlink %s = %q, %v; want %q", name, got, err, want)
		}
	}
	if st := lstat(t, filepath.Join(tg.dest, "d")); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("d is %o, want a directory replacing the symlink", st.Mode&unix.S_IFMT)
	}
}

func TestUnpackLaterEntriesWin(t *testing.T) {
	tg, _ := unpackOK(t, tarball(t,
		file("a", "one"),
		hardlink("b", "a"),
		file("a", "two"), // replaces a; b keeps the old content
		dir("d/"),
		dir("d/"), // a directory again only updates metadata
		file("d/f", "f"),
		dir("e/"),
		file("e", "now a file"), // an empty directory may be replaced
	))
	for name, want := range map[string]string{"a": "two", "b": "one", "d/f": "f", "e": "now a file"} {
		if got := readFile(t, filepath.Join(tg.dest, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	// A directory that still has content is not silently thrown away.
	_, _, err := unpack(t, tarball(t, file("d/f", "f"), file("d", "file")))
	var ie *Error
	if !errors.As(err, &ie) || !strings.Contains(ie.Reason, "not empty") {
		t.Errorf("replacing a non-empty directory: err = %v, want *Error about it", err)
	}
}

func TestUnpackPreservesMetadata(t *testing.T) {
	mtime := time.Date(2003, 4, 5, 6, 7, 8, 123456789, time.UTC)
	pax := func(e entry) entry {
		e.ModTime = mtime
		e.Format = tar.FormatPAX // keeps nanoseconds
		return e
	}
	suid := pax(file("bin/su", "elf"))
	suid.Mode = 0o4755
	sgid := pax(dir("srv/"))
	sgid.Mode = 0o2775
	sticky := pax(dir("tmp/"))
	sticky.Mode = 0o1777
	private := pax(dir("private/"))
	private.Mode = 0o700
	readOnly := pax(dir("ro/"))
	readOnly.Mode = 0o555
	tg, _ := unpackOK(t, tarball(t,
		suid, sgid, sticky, private, readOnly,
		pax(file("private/key", "k")), // added after private/: its mtime must still hold
		pax(file("ro/f", "f")),        // an unprivileged unpack can still write here
		pax(symlink("bin/sh", "su")),
		hardlink("bin/su2", "bin/su"),
		pax(entry{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "run/initctl", Mode: 0o600}}),
	))
	for _, tc := range []struct {
		name string
		mode uint32
	}{
		{"bin/su", unix.S_IFREG | 0o4755},
		{"srv", unix.S_IFDIR | 0o2775},
		{"tmp", unix.S_IFDIR | 0o1777},
		{"private", unix.S_IFDIR | 0o700},
		{"private/key", unix.S_IFREG | 0o644},
		{"ro", unix.S_IFDIR | 0o555},
		{"bin/sh", unix.S_IFLNK},
		{"run/initctl", unix.S_IFIFO | 0o600},
	} {
		st := lstat(t, filepath.Join(tg.dest, tc.name))
		mode := st.Mode
		if tc.mode == unix.S_IFLNK {
			mode &= unix.S_IFMT // a symlink's permission bits mean nothing
		}
		if mode != tc.mode {
			t.Errorf("%s: mode %o, want %o", tc.name, mode, tc.mode)
		}
		if got := time.Unix(st.Mtim.Unix()); !got.Equal(mtime) {
			t.Errorf("%s: mtime %v, want %v", tc.name, got.UTC(), mtime)
		}
	}
	// t.TempDir's cleanup cannot empty a read-only directory when not root.
	t.Cleanup(func() { os.Chmod(filepath.Join(tg.dest, "ro"), 0o755) })
	su, su2 := lstat(t, filepath.Join(tg.dest, "bin/su")), lstat(t, filepath.Join(tg.dest, "bin/su2"))
	if su.Ino != su2.Ino || su.Nlink != 2 {
		t.Errorf("bin/su2 is inode %d, bin/su inode %d with %d links: want one inode, two links", su2.Ino, su.Ino, su.Nlink)
	}
}

func TestUnpackRestoresXattrs(t *testing.T) {
	probe := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(probe, "user.crate", []byte("x"), 0); errors.Is(err, unix.ENOTSUP) {
		t.Skip("the temporary directory's file system has no user xattrs")
	} else if err != nil {
		t.Fatal(err)
	}
	withXattr := func(e entry, value string) entry {
		e.PAXRecords = map[string]string{"SCHILY.xattr.user.crate": value}
		return e
	}
	tg, _ := unpackOK(t, tarball(t, withXattr(dir("d/"), "on a dir"), withXattr(file("d/f", "f"), "on a file")))
	for name, want := range map[string]string{"d": "on a dir", "d/f": "on a file"} {
		buf := make([]byte, 64)
		n, err := unix.Lgetxattr(filepath.Join(tg.dest, name), "user.crate", buf)
		if err != nil || string(buf[:n]) != want {
			t.Errorf("%s: user.crate = %q, %v; want %q", name, buf[:n], err, want)
		}
	}
}

// netRawCapability is a security.capability value (VFS_CAP_REVISION_2, effective) that
// grants CAP_NET_RAW, as ping carries in images.
var netRawCapability = string([]byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

// withXattrs adds extended attributes to an entry, as PAX records.
func withXattrs(e entry, attrs ...string) entry {
	e.PAXRecords = map[string]string{}
	for i := 0; i+1 < len(attrs); i += 2 {
		e.PAXRecords[paxXattr+attrs[i]] = attrs[i+1]
	}
	return e
}

// overlayXattrs are attributes overlayfs reads from its layers (trusted.*, or user.*
// with the userxattr option): set by an image, they would hide or redirect what the
// layers below it hold.
var overlayXattrs = []string{
	"trusted.overlay.opaque", "y",
	"trusted.overlay.redirect", "/etc",
	"trusted.overlay.metacopy", "",
	"trusted.overlay.origin", "x",
	"user.overlay.opaque", "y",
}

// TestUnpackDropsOverlayXattrs: the attributes of overlayfs are never taken from an
// archive; file capabilities and the rest are, as docker takes them.
func TestUnpackDropsOverlayXattrs(t *testing.T) {
	testutil.RequireRoot(t) // trusted.* and security.* need it
	tg, _ := unpackOK(t, tarball(t,
		withXattrs(dir("d/"), append(slices.Clone(overlayXattrs), "user.crate", "kept")...),
		withXattrs(file("d/ping", "ping"), append(slices.Clone(overlayXattrs), "security.capability", netRawCapability)...),
	))
	for _, name := range []string{"d", "d/ping"} {
		for i := 0; i < len(overlayXattrs); i += 2 {
			if v, ok := lgetxattr(t, filepath.Join(tg.dest, name), overlayXattrs[i]); ok {
				t.Errorf("%s: %s = %q; the archive's overlay attributes must be dropped", name, overlayXattrs[i], v)
			}
		}
	}
	if v, _ := lgetxattr(t, filepath.Join(tg.dest, "d"), "user.crate"); v != "kept" {
		t.Errorf("d: user.crate = %q, want kept", v)
	}
	if v, _ := lgetxattr(t, filepath.Join(tg.dest, "d/ping"), "security.capability"); v != netRawCapability {
		t.Errorf("d/ping: security.capability = %q, want %q", v, netRawCapability)
	}
}

// TestUnpackErrorsQuoteWhatTheArchiveSays: an attribute the kernel refuses fails the
// unpack, and the error names it quoted: the archive chose its name.
func TestUnpackErrorsQuoteWhatTheArchiveSays(t *testing.T) {
	// A value over the kernel's 64 KiB: E2BIG, whatever the file system.
	evil := withXattrs(file("f\x1b[2J", "f"), "user.\x1b]0;pwned\x07", strings.Repeat("x", 65537))
	_, _, err := unpack(t, tarball(t, evil))
	if err == nil || !printableASCII(err.Error()) || !strings.Contains(err.Error(), `user.\x1b]0;pwned\a`) {
		t.Errorf("Unpack error %q: want the attribute named, quoted", err)
	}
}

// lgetxattr returns an attribute's value and whether it is set at all.
func lgetxattr(t *testing.T, p, attr string) (string, bool) {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, attr, buf)
	if errors.Is(err, unix.ENODATA) {
		return "", false
	}
	if err != nil {
		t.Fatalf("lgetxattr %s %s: %v", attr, p, err)
	}
	return string(buf[:n]), true
}

func TestUnpackRestoresOwners(t *testing.T) {
	testutil.RequireRoot(t)
	owned := func(e entry) entry {
		e.Uid, e.Gid = 1234, 5678
		return e
	}
	suid := owned(file("bin/passwd", "elf"))
	suid.Mode = 0o4755 // chown after chmod would clear this
	tg, _ := unpackOK(t, tarball(t, owned(dir("home/")), suid, owned(symlink("home/link", "/nowhere")),
		owned(entry{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo", Mode: 0o644}})))
	for _, name := range []string{"home", "bin/passwd", "home/link", "fifo"} {
		st := lstat(t, filepath.Join(tg.dest, name))
		if st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("%s: owner %d:%d, want 1234:5678", name, st.Uid, st.Gid)
		}
	}
	if st := lstat(t, filepath.Join(tg.dest, "bin/passwd")); st.Mode&0o7777 != 0o4755 {
		t.Errorf("bin/passwd: mode %o, want 4755", st.Mode&0o7777)
	}
}

func TestUnpackCreatesDevices(t *testing.T) {
	testutil.RequireRoot(t)
	null := entry{Header: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: epoch}}
	loop := entry{Header: tar.Header{Typeflag: tar.TypeBlock, Name: "dev/loop0", Mode: 0o660, Devmajor: 7, Devminor: 0, ModTime: epoch}}
	tg, stats := unpackOK(t, tarball(t, null, loop))
	for _, tc := range []struct {
		name string
		mode uint32
		dev  uint64
	}{
		{"dev/null", unix.S_IFCHR | 0o666, unix.Mkdev(1, 3)},
		{"dev/loop0", unix.S_IFBLK | 0o660, unix.Mkdev(7, 0)},
	} {
		st := lstat(t, filepath.Join(tg.dest, tc.name))
		if st.Mode != tc.mode || st.Rdev != tc.dev {
			t.Errorf("%s: mode %o dev %d, want %o dev %d", tc.name, st.Mode, st.Rdev, tc.mode, tc.dev)
		}
	}
	if stats.Others != 2 {
		t.Errorf("stats.Others = %d, want 2", stats.Others)
	}
}

func TestUnpackLongNames(t *testing.T) {
	long := strings.Repeat("n", 150)
	deep := strings.Repeat("directory-level/", 40) + "leaf" // 644 characters
	for _, format := range []tar.Format{tar.FormatPAX, tar.FormatGNU} {
		t.Run(format.String(), func(t *testing.T) {
			entries := []entry{file(long, "long"), file(deep, "deep"), hardlink(deep+"-link", deep), symlink(long+"-sym", deep)}
			for i := range entries {
				entries[i].Format = format
			}
			tg, _ := unpackOK(t, tarball(t, entries...))
			for name, want := range map[string]string{long: "long", deep: "deep", deep + "-link": "deep", long + "-sym": "deep"} {
				if got := readFile(t, filepath.Join(tg.dest, name)); got != want {
					t.Errorf("%.40s...: %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestUnpackRootEntrySetsDestMetadata(t *testing.T) {
	root := dir("./")
	root.Mode = 0o755
	tg, _ := unpackOK(t, tarball(t, root, file("./a", "a")))
	st := lstat(t, tg.dest)
	if st.Mode&0o7777 != 0o755 || !time.Unix(st.Mtim.Unix()).Equal(epoch) {
		t.Errorf("dest: mode %o mtime %v, want 755 and %v", st.Mode&0o7777, time.Unix(st.Mtim.Unix()).UTC(), epoch)
	}

	// The root can only be a directory.
	notDir := file(".", "x")
	_, _, err := unpack(t, tarball(t, notDir))
	var ie *Error
	if !errors.As(err, &ie) {
		t.Errorf("a file named ./: err = %v, want *Error", err)
	}
}

func TestUnpackStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tg := newTarget(t)
	_, err := Unpack(ctx, writeArchive(t, "r.tar", tarball(t, file("a", "a"))), tg.dest)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Unpack = %v, want context.Canceled", err)
	}
	tg.requireEmpty(t)
}

func TestUnpackReportsMissingDest(t *testing.T) {
	p := writeArchive(t, "r.tar", tarball(t, file("a", "a")))
	_, err := Unpack(context.Background(), p, filepath.Join(t.TempDir(), "absent"))
	if err == nil || !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Unpack into a missing dest = %v, want ENOENT", err)
	}
}
