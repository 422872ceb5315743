package main

// Hostile containers: each test runs, as a real container, what an attacker
// with root inside would try, and checks the exact answer. A naive runtime
// (namespaces and a chroot, nothing more) fails them.
//
// System calls come from testdata/attack, a small static program copied into
// the image as /attack, which prints one line per attempt ("keyctl: EPERM").
// Every attempt is harmless where it is allowed: its arguments are wrong in a
// way the kernel checks only after permission (reboot without its magic
// numbers, swapon of a missing file), so "refused" (EPERM) and "allowed"
// (EINVAL, ENOENT, ENODEV, ok) read differently.
//
// Covered elsewhere, not repeated here: mount by root, writes to
// /proc/sys/kernel/ostype and /sys/kernel/profiling, mknod of a disk with
// busybox (TestRefusedByDefault); masked paths read empty (TestMaskedPaths);
// the capability sets of root, --user nobody, --cap-drop ALL and
// --privileged (TestCapabilities); no host process in /proc
// (TestCommandIsPID1AndSeesOnlyItsProcesses); kill(0) reaching the host's
// process group (TestContainerCannotSignalTheHostGroup); a host descriptor
// (TestHostFdInvisible); a fork loop and the default pids limit
// (TestPidsLimit, TestDefaultPidsLimit); a memory hog (TestMemoryLimit); no
// host disk in /dev (TestMinimalDev); archives that write outside their
// layer (TestBadInputIsRefused).

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/testutil"
)

// attackImage is busybox plus /attack, built once per test binary run.
// CRATE_ATTACK_BIN names a prebuilt attack program, for a machine without
// Go (as CRATE_BIN does for crate).
func attackImage(t *testing.T) string {
	t.Helper()
	img := filepath.Join(testTmp, "attack.tar.gz")
	if _, err := os.Stat(img); err == nil {
		return img
	}
	bin := os.Getenv("CRATE_ATTACK_BIN")
	if bin == "" {
		bin = filepath.Join(testTmp, "attack")
		// testdata keeps it out of ./... (crate's build and vet); named
		// explicitly, it builds as any package of the module.
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./testdata/attack")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build ./testdata/attack: %v\n%s", err, out)
		}
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	writeImage(t, img, busyboxFiles(t, testutil.File{Name: "attack", Mode: 0o755, Body: body}))
	return img
}

// attack is the command line of one attack.
func attack(args ...string) []string { return append([]string{"/attack"}, args...) }

// hostileCase is one attack: `crate run FLAGS IMAGE CMD` must exit 0 having
// printed want (or, where given, or).
type hostileCase struct {
	name  string
	img   string // the image; the attack image if ""
	flags []string
	cmd   []string
	want  string
	or    string // another acceptable output, for a defence that may stop the attack one step later
}

// runHostile runs each case in a container of the attack image.
func runHostile(t *testing.T, e *env, tests []hostileCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := tt.img
			if img == "" {
				img = attackImage(t)
			}
			r := e.run(append(append(slices.Clone(tt.flags), img), tt.cmd...)...)
			if r.code == 0 && (r.stdout == tt.want || tt.or != "" && r.stdout == tt.or) {
				return
			}
			want := fmt.Sprintf("%q", tt.want)
			if tt.or != "" {
				want += fmt.Sprintf(" or %q", tt.or)
			}
			msg := fmt.Sprintf("crate run %q: exit %d, stdout %q; want exit 0 and %s",
				append(slices.Clone(tt.flags), tt.cmd...), r.code, r.stdout, want)
			if r.stderr != "" {
				msg += "\nstderr: " + r.stderr
			}
			t.Error(msg)
		})
	}
}

// TestHostileSyscalls: the calls Docker's default seccomp profile refuses
// are refused with EPERM, whether or not a missing capability would stop
// them too; with seccomp=unconfined they reach the kernel and fail on their
// arguments instead, which shows that the filter is what stops them.
func TestHostileSyscalls(t *testing.T) {
	e := newEnv(t)
	refused := func(call string) hostileCase {
		return hostileCase{name: call, cmd: attack(call), want: call + ": EPERM\n"}
	}
	unconfined := []string{"--security-opt", "seccomp=unconfined"}
	runHostile(t, e, []hostileCase{
		// Only seccomp stops these: they need no capability. Keyrings are
		// the host's, not the container's; a user namespace gives a root
		// with every capability over it, and with them more of the kernel.
		refused("keyctl"),
		refused("add_key"),
		refused("userfaultfd"),
		refused("unshare-user"),
		// perf_event_paranoid stops it on some hosts (EACCES), not on others.
		refused("perf_event_open"),
		// Unprivileged BPF may be disabled, but a bad map description still
		// gets EINVAL: the kernel checks the arguments first.
		refused("bpf"),
		// A kernel without modules answers ENOSYS; seccomp answers first.
		refused("init_module"),
		refused("finit_module"),

		// A missing capability stops these already: SYS_BOOT, SYS_ADMIN.
		refused("reboot"),
		refused("swapon"),
		refused("fsopen"),
		refused("umount"),
		refused("pivot_root"),

		// The filter, not the kernel, refuses them: unconfined, the kernel
		// gets to the bad arguments.
		{name: "keyctl unconfined", flags: unconfined, cmd: attack("keyctl"), want: "keyctl: EINVAL\n"},
		{name: "add_key unconfined", flags: unconfined, cmd: attack("add_key"), want: "add_key: ENODEV\n"},

		// --privileged may mount: the call gets to the file system type,
		// which does not exist.
		{name: "mount --privileged", flags: []string{"--privileged"}, cmd: attack("mount"), want: "mount: ENODEV\n"},
	})
}

// TestHostileChrootEscape tries to get out of the container's root and looks
// for a file the test made on the host.
func TestHostileChrootEscape(t *testing.T) {
	e := newEnv(t)
	marker := filepath.Join(t.TempDir(), "host-marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	escape, uncover := attack("chroot-escape", marker), attack("uncover-root", marker)
	runHostile(t, e, []hostileCase{
		// The double chroot: chroot into a subdirectory, climb out of it
		// with "..", chroot to where the climb ends. In a plain chroot it
		// ends at the host's root. pivot_root detached the host's root, so
		// it ends at the container's.
		{name: "double chroot", cmd: escape, want: "chroot-escape: contained\n"},
		// --no-pivot holds too, though the host's root is still mounted
		// underneath: crate moves the container's root over "/" before it
		// chroots, and ".." at the top of a stack of mounts on the
		// namespace's root stays where it is.
		{name: "double chroot --no-pivot", flags: []string{"--no-pivot"}, cmd: escape, want: "chroot-escape: contained\n"},
		// Without CAP_SYS_CHROOT the first chroot is refused.
		{name: "double chroot --cap-drop SYS_CHROOT", flags: []string{"--no-pivot", "--cap-drop", "SYS_CHROOT"}, cmd: escape,
			want: "chroot-escape: chroot EPERM\n"},
		{name: "double chroot --cap-drop ALL", flags: []string{"--cap-drop", "ALL"}, cmd: escape, want: "chroot-escape: chroot EPERM\n"},

		// The documented difference: with CAP_SYS_ADMIN a process can
		// unmount the container's root and re-enter its mount namespace,
		// which roots it at what lies under. After pivot_root nothing of the
		// host does; under --no-pivot the host's root does.
		{name: "uncover the root", flags: []string{"--cap-add", "SYS_ADMIN"}, cmd: uncover, want: "uncover-root: contained\n"},
		{name: "uncover the root --no-pivot", flags: []string{"--no-pivot", "--cap-add", "SYS_ADMIN"}, cmd: uncover,
			want: "uncover-root: host\n"},
		// Root without CAP_SYS_ADMIN cannot start it.
		{name: "uncover the root --no-pivot, default capabilities", flags: []string{"--no-pivot"}, cmd: uncover,
			want: "uncover-root: umount EPERM\n"},
	})
}

// TestHostileProcesses: no process of the host can be reached by its PID,
// with a signal or ptrace; PID 1 only by a process with its credentials.
func TestHostileProcesses(t *testing.T) {
	e := newEnv(t)
	// This test's own PID: a host process, and far above any PID the
	// container's few processes get in their namespace.
	host := strconv.Itoa(os.Getpid())
	// sh stays PID 1 ("; true" keeps it from exec'ing the last command), so
	// /attack is another process, which tries to trace it.
	underPID1 := func(script string) []string { return []string{"/bin/sh", "-c", script + "; true"} }
	runHostile(t, e, []hostileCase{
		{name: "signal a host PID", cmd: attack("kill", host), want: "kill: ESRCH\n"},
		{name: "ptrace a host PID", cmd: attack("ptrace", host), want: "ptrace: ESRCH\n"},
		// Root may trace the container's PID 1, as in Docker (whose seccomp
		// profile allows ptrace on kernels since 4.8): the same user with
		// the same capabilities needs no CAP_SYS_PTRACE. It is no way out:
		// PID 1 is the container's own command, crate-init having exec'ed
		// it with none of the host's descriptors.
		{name: "ptrace PID 1 as root", cmd: underPID1("/attack ptrace 1"), want: "ptrace: ok\n"},
		// Another user may not trace root's PID 1.
		{name: "ptrace PID 1 as nobody", cmd: underPID1("su -s /bin/sh -c '/attack ptrace 1' nobody"), want: "ptrace: EPERM\n"},
	})
}

// TestHostileKernelFiles opens for writing the kernel's files that change
// the host (opening writes nothing; only a write would act): the read-only
// mounts refuse them.
func TestHostileKernelFiles(t *testing.T) {
	e := newEnv(t)
	files := []string{
		"/proc/sysrq-trigger",                         // "b" reboots the host
		"/proc/sys/kernel/core_pattern",               // "|prog" runs prog on the host at a crash
		"/proc/sys/vm/drop_caches",                    // the host's caches
		"/sys/kernel/uevent_helper",                   // runs a program on the host at each uevent
		"/sys/kernel/mm/transparent_hugepage/enabled", // the host's memory management
		"/sys/power/state",                            // "mem" suspends the host
	}
	// The container's own cgroup, whose limits it must not raise.
	if fi, err := os.Stat("/sys/fs/cgroup/pids"); err == nil && fi.IsDir() {
		files = append(files, "/sys/fs/cgroup/pids/pids.max") // v1: a hierarchy per controller
	} else {
		files = append(files, "/sys/fs/cgroup/pids.max")
	}
	var tests []hostileCase
	for _, f := range files {
		if _, err := os.Stat(f); err != nil && !strings.HasPrefix(f, "/sys/fs/cgroup/") {
			t.Logf("%s: not on this kernel, not tried", f)
			continue
		}
		tests = append(tests, hostileCase{name: f, cmd: attack("open-write", f), want: "open-write: EROFS\n"})
	}
	runHostile(t, e, tests)
}

// TestHostileDevices makes device nodes of the host's root disk and of
// /dev/mem and tries to read them. Root in the container may make them
// (CAP_MKNOD, as under Docker); the devices cgroup refuses to open them.
// Without CAP_MKNOD, mknod itself is refused.
func TestHostileDevices(t *testing.T) {
	e := newEnv(t)
	disk := rootDisk(t)
	runHostile(t, e, []hostileCase{
		{name: "root disk " + disk, cmd: attack("mknod", "b", disk), want: "mknod: open EPERM\n"},
		{name: "/dev/mem", cmd: attack("mknod", "c", "1:1"), want: "mknod: open EPERM\n"},
		{name: "root disk --cap-drop MKNOD", flags: []string{"--cap-drop", "MKNOD"}, cmd: attack("mknod", "b", disk),
			want: "mknod: mknod EPERM\n"},
		// /dev/kmsg is on no allow-list; --privileged lifts the devices
		// cgroup, and reading the kernel's log is harmless.
		{name: "/dev/kmsg", cmd: attack("mknod", "c", "1:11"), want: "mknod: open EPERM\n"},
		{name: "/dev/kmsg --privileged", flags: []string{"--privileged"}, cmd: attack("mknod", "c", "1:11"),
			want: "mknod: read ok\n"},
	})
}

// rootDisk is MAJOR:MINOR of the block device the host's root is on, or of
// the first disk in /proc/partitions where the root's device is not a block
// device (btrfs, a network root), or sda's (8:0) on a machine without disks
// (the v2 VM's initramfs): the devices cgroup refuses the open before any
// driver is asked whether the device exists.
func rootDisk(t *testing.T) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	if unix.Major(st.Dev) != 0 {
		return fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	}
	data, err := os.ReadFile("/proc/partitions")
	if err != nil {
		t.Fatal(err)
	}
	// "major minor  #blocks  name", a blank line, then one line a device.
	for _, line := range strings.Split(string(data), "\n")[1:] {
		if f := strings.Fields(line); len(f) == 4 {
			return f[0] + ":" + f[1]
		}
	}
	return "8:0"
}

// TestHostileForkBomb runs a real fork bomb, each shell starting two more,
// under --pids 64: it meets the limit, PID 1 keeps running and ends the
// container (and with it the bomb), and nothing is left.
func TestHostileForkBomb(t *testing.T) {
	e := newEnv(t)
	// Once the bomb runs, PID 1 cannot fork either: it waits for the
	// cgroup's count of refused forks using shell builtins only.
	script := `bomb() { bomb | bomb & }; bomb 2>/dev/null
f=/sys/fs/cgroup/pids.events; [ -e $f ] || f=/sys/fs/cgroup/pids/pids.events
until read -r line < $f && [ "$line" != "max 0" ]; do :; done
echo "held: $line"`
	r := e.run("--pids", "64", attackImage(t), "/bin/sh", "-c", script)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "held: max ") {
		t.Errorf("exit %d, stdout %q; want 0 and the pids limit hit\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// TestHostileVolumeSymlink mounts a volume on a path of the image that is a
// symlink to /etc. Resolved on the host, it would land on the host's /etc;
// crate mounts after the root switch, so the link resolves inside the
// container, as Docker resolves it, and the volume covers the container's
// /etc.
func TestHostileVolumeSymlink(t *testing.T) {
	for name, link := range map[string]string{"absolute": "/etc", "relative": "../../../../../../../../etc"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			vol := t.TempDir()
			if err := os.WriteFile(filepath.Join(vol, "from-host"), []byte("volume\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			img := rootfsImage(t, busyboxFiles(t, testutil.File{Name: "data", Typeflag: tar.TypeSymlink, Link: link}))
			// Some machines mount /etc (the v2 VM does): count, and compare.
			etcMounts := mountsAt(t, "/etc")
			c := e.start("-i", "-v", vol+":/data", img, "/bin/sh", "-c",
				"echo container > /data/from-container && echo ready && (cat /etc/from-host || echo missing); read x")
			if got := c.next(); got != "volume" {
				t.Errorf("the container's /etc/from-host: %q, want the volume's", got)
			}
			// While the container runs: the host's /etc has no mount and no file
			// from the container; the volume has it.
			if n := mountsAt(t, "/etc"); n != etcMounts {
				t.Errorf("%d mounts on the host's /etc, %d before the container", n, etcMounts)
			}
			if _, err := os.Lstat("/etc/from-container"); err == nil {
				os.Remove("/etc/from-container")
				t.Error("the container wrote into the host's /etc")
			}
			if got, err := os.ReadFile(filepath.Join(vol, "from-container")); err != nil || string(got) != "container\n" {
				t.Errorf("the volume's from-container: %q, %v; want what the container wrote", got, err)
			}
			c.stdin.Write([]byte("done\n"))
			if r := e.wait(c); r.code != 0 {
				t.Errorf("exit %d, stderr: %s", r.code, r.stderr)
			}
		})
	}
}

// mountsAt counts the mounts on dir in the host's mount table.
func mountsAt(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	// "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...": the fifth field.
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 4 && f[4] == dir {
			n++
		}
	}
	return n
}

// TestHostileDfWalk: crate system df sums what each container's directory
// holds, which the container changes while df walks it: its writes land in
// the overlay's upper directory. A container that swaps a directory for a
// symlink to / for ever must never get df to count the host's files (the
// walk would find d a directory, then open d by name and be in /): the
// containers' total stays what one small container holds.
func TestHostileDfWalk(t *testing.T) {
	e := newEnv(t)
	e.detachReady(attackImage(t), "/attack", "swap-dir-link", "/race")
	const most = 64 << 20 // the attack image and its copy, were it copied
	for range 100 {
		if c := e.df()["containers"]; c.Size > most {
			t.Fatalf("df counts %d bytes in the containers, the host's files among them", c.Size)
		}
	}
}
