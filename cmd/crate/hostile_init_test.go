package main

// Hostile containers against crate-init's own steps: the kernel facts it
// uses, the order it mounts in, what it reads from the image, how crate exec
// enters a running container, and what the container may do to the
// operator's terminal. The container's file system is hostile, always: its
// image, its volumes, and its PID 1 once it runs, which may chroot, unmount
// or over-mount in its own view, and swap files for FIFOs and symlinks.

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/crate-run/crate/pkg/testutil"
)

// dockerDefaultCaps is Docker's default capability set as a mask: CHOWN
// DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
// NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
const dockerDefaultCaps = 0xa80425fb

// Capability bits the tests add to the default set.
const (
	capNetRaw   = 1 << 13
	capSysAdmin = 1 << 21
)

// hostCaps reads the test's own bounding and effective sets: what crate,
// run by the test, holds and can hand on.
func hostCaps(t *testing.T) (bnd, eff uint64) {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) uint64 {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, name+":"); ok {
				n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		t.Fatalf("no %s in /proc/self/status", name)
		return 0
	}
	return field("CapBnd"), field("CapEff")
}

// wantCaps is the line `/attack caps` prints for a process of root that
// keeps set (nonRoot: a user other than root, who holds none of it).
func wantCaps(t *testing.T, set uint64, nonRoot bool) string {
	t.Helper()
	bnd, eff := hostCaps(t)
	held := set & eff
	if nonRoot {
		held = 0
	}
	return fmt.Sprintf("caps: bnd=%#x prm=%#x eff=%#x inh=0x0 amb=0x0\n", set&bnd, held, held)
}

// attackBinary is the attack program, as attackImage puts it in its image.
func attackBinary(t *testing.T) []byte {
	t.Helper()
	attackImage(t) // builds it if need be
	bin := os.Getenv("CRATE_ATTACK_BIN")
	if bin == "" {
		bin = filepath.Join(testTmp, "attack")
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// fileCaps is a security.capability attribute (VFS_CAP_REVISION_2) that
// grants inheritable, with the effective bit: a user whose inheritable set
// holds those capabilities gets them, effective, when it executes the file.
func fileCaps(inheritable uint64) string {
	const revision2, effective = 0x02000000, 0x1
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], revision2|effective)
	binary.LittleEndian.PutUint32(b[8:], uint32(inheritable))
	binary.LittleEndian.PutUint32(b[16:], uint32(inheritable>>32))
	return string(b)
}

// TestHostileInheritableCaps: the inheritable set is empty, as Docker's is
// since CVE-2022-24769. Were it the container's set, a user other than root
// (-u, or su/gosu in the image) would get those capabilities back by
// executing a file that carries them as inheritable file capabilities.
func TestHostileInheritableCaps(t *testing.T) {
	e := newEnv(t)
	body := attackBinary(t)
	img := rootfsImage(t, busyboxFiles(t,
		testutil.File{Name: "attack", Mode: 0o755, Body: body},
		testutil.File{Name: "fcap", Mode: 0o755, Body: body, Xattrs: map[string]string{"security.capability": fileCaps(capNetRaw)}}))
	runHostile(t, e, []hostileCase{
		{name: "root", img: img, cmd: attack("caps"), want: wantCaps(t, dockerDefaultCaps, false)},
		{name: "nobody", img: img, flags: []string{"-u", "nobody"}, cmd: attack("caps"), want: wantCaps(t, dockerDefaultCaps, true)},
		// su keeps the inheritable set across its setuid; /fcap's file
		// capabilities then grant whatever of it they name.
		{name: "su to nobody, who runs a file with inheritable capabilities", img: img,
			cmd: []string{"su", "-s", "/bin/sh", "-c", "/fcap caps", "nobody"}, want: wantCaps(t, dockerDefaultCaps, true)},
	})
}
