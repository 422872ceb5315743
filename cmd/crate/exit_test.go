package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crate-run/crate/pkg/testutil"
)

// tinyELF is a whole static x86-64 program in 131 bytes: one instruction,
// `mov dword [0], 0`, which faults. With machine 183 it claims to be arm64.
func tinyELF(machine uint16) []byte {
	const base, codeOff = 0x400000, 64 + 56
	code := []byte{0xc7, 0x04, 0x25, 0, 0, 0, 0, 0, 0, 0, 0}
	size := uint64(codeOff + len(code))
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	le(uint16(2))              // e_type: executable
	le(machine)                // e_machine
	le(uint32(1))              // e_version
	le(uint64(base + codeOff)) // e_entry
	le(uint64(64))             // e_phoff
	le(uint64(0))              // e_shoff
	le(uint32(0))              // e_flags
	le([]uint16{64, 56, 1, 0, 0, 0})
	le([]uint32{1, 5})                              // PT_LOAD, R+X
	le([]uint64{0, base, base, size, size, 0x1000}) // offset, vaddr, paddr, filesz, memsz, align
	b.Write(code)
	return b.Bytes()
}

// TestExitStatus checks docker run's conventions for how the command ended.
func TestExitStatus(t *testing.T) {
	e := newEnv(t)
	img := rootfsImage(t, busyboxFiles(t,
		testutil.File{Name: "bin/segv", Mode: 0o755, Body: tinyELF(62)},
	))
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"success", []string{"true"}, 0},
		{"exit code", []string{"/bin/sh", "-c", "exit 3"}, 3},
		{"killed by a signal", []string{"/bin/segv"}, 128 + 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := e.run(append([]string{img}, tt.args...)...); r.code != tt.want {
				t.Errorf("exit %d, want %d\nstderr: %s", r.code, tt.want, r.stderr)
			}
		})
	}
}

// TestCommandCannotStart checks that each reason a command cannot start is
// named, with 127 for "not there" and 126 for "there but not runnable", as
// crate-init's execve finds it and, under --init, as its child's does.
func TestCommandCannotStart(t *testing.T) {
	e := newEnv(t)
	dynamic, err := os.ReadFile("/usr/bin/true") // linked against the host's libc
	if err != nil {
		t.Fatal(err)
	}
	img := rootfsImage(t, busyboxFiles(t,
		testutil.File{Name: "bin/arm64-tool", Mode: 0o755, Body: tinyELF(183)},
		testutil.File{Name: "bin/dynamic", Mode: 0o755, Body: dynamic},
		testutil.File{Name: "bin/plain", Mode: 0o644, Body: []byte("echo hi\n")},
		testutil.File{Name: "bin/py", Mode: 0o755, Body: []byte("#!/usr/bin/python3\nprint(1)\n")},
		testutil.File{Name: "bin/dos", Mode: 0o755, Body: []byte("#!/bin/sh\r\necho hi\r\n")},
	))
	tests := []struct {
		name    string
		command string
		code    int
		says    string
	}{
		{"not found", "nope", 127, "nope: command not found in PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		{"no such path", "/opt/nope", 127, "/opt/nope: no such file in the image"},
		{"not executable", "/bin/plain", 126, "not executable (mode -rw-r--r--)"},
		{"a directory", "/bin", 126, "is a directory"},
		{"missing ELF interpreter", "/bin/dynamic", 127, "ELF interpreter /lib64/ld-linux-x86-64.so.2 is missing from the image"},
		{"another architecture", "/bin/arm64-tool", 126, "a binary for aarch64 (arm64), but this machine runs x86_64"},
		{"missing #! interpreter", "/bin/py", 127, "#! interpreter /usr/bin/python3 is missing from the image"},
		{"CRLF #! line", "/bin/dos", 127, "CRLF"},
	}
	for _, flags := range [][]string{nil, {"--init"}} {
		for _, tt := range tests {
			t.Run(strings.Join(append(flags, tt.name), " "), func(t *testing.T) {
				r := e.run(append(flags, img, tt.command)...)
				if r.code != tt.code {
					t.Errorf("exit %d, want %d", r.code, tt.code)
				}
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				if len(lines) != 1 || !strings.Contains(lines[0], tt.says) {
					t.Errorf("stderr %q: want one line saying %q", r.stderr, tt.says)
				}
			})
		}
	}
}

// TestInitOfAnotherVersion: crate refuses to start a container with a
// crate-init of another version, in one line, with 125 and nothing left;
// crate version says which init it found and its version.
func TestInitOfAnotherVersion(t *testing.T) {
	e := newEnv(t)
	other := os.Getenv("CRATE_OTHER_INIT_BIN") // prebuilt where there is no Go (the v2 VM)
	if other == "" {
		other = filepath.Join(t.TempDir(), "crate-init")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=other", "-o", other, "../crate-init")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build crate-init: %v\n%s", err, out)
		}
	}
	// The binaries under test carry one version: "dev", or make's.
	out := e.ok("version")
	var v string
	fmt.Sscanf(out, "crate %s ", &v)
	if v == "" || !strings.Contains(out, "crate-init: "+initBin+" "+v+"\n") {
		t.Errorf("crate version: %q, want the init's path and the same version", out)
	}
	name := newName()
	cmd := e.command("run", "--name", name, busyboxImage(t), "true")
	cmd.Env = append(cmd.Env, "CRATE_INIT="+other)
	r := e.finish(cmd, name)
	if r.code != exitCrateFailed || !strings.Contains(r.stderr, "crate-init is version other but crate is "+v+":") {
		t.Errorf("run with another init: exit %d, stderr %q", r.code, r.stderr)
	}
	e.noLeftovers(name)
}
