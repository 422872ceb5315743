package profile

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/crate-run/crate/pkg/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// rulesFor returns the resolved rules of s that name syscall.
func rulesFor(s *specs.LinuxSeccomp, syscall string) []specs.LinuxSyscall {
	var out []specs.LinuxSyscall
	for _, r := range s.Syscalls {
		if slices.Contains(r.Names, syscall) {
			out = append(out, r)
		}
	}
	return out
}

func TestDefaultFollowsCapabilities(t *testing.T) {
	tests := []struct {
		caps    []string
		syscall string
		// unconditional is whether an unconditional SCMP_ACT_ALLOW rule
		// names syscall.
		unconditional bool
	}{
		{spec.DefaultCapabilities, "getpid", true},
		{spec.DefaultCapabilities, "mount", false},
		{[]string{"CAP_SYS_ADMIN"}, "mount", true},
		{spec.DefaultCapabilities, "clone", false}, // only without namespace flags
		{[]string{"CAP_SYS_ADMIN"}, "clone", true},
		{spec.DefaultCapabilities, "reboot", false},
		{[]string{"CAP_SYS_BOOT"}, "reboot", true},
		{spec.DefaultCapabilities, "chroot", true}, // CAP_SYS_CHROOT is in Docker's set
		{nil, "chroot", false},
		{[]string{"CAP_SYS_PTRACE"}, "kcmp", true},
		{nil, "kcmp", false},
	}
	for _, tt := range tests {
		t.Run(tt.syscall+" with "+strings.Join(tt.caps, ","), func(t *testing.T) {
			s := mustDefault(t, tt.caps)
			got := slices.ContainsFunc(rulesFor(s, tt.syscall), func(r specs.LinuxSyscall) bool {
				return r.Action == specs.ActAllow && len(r.Args) == 0
			})
			if got != tt.unconditional {
				t.Errorf("unconditional allow: %v, want %v (rules: %+v)", got, tt.unconditional, rulesFor(s, tt.syscall))
			}
		})
	}

	s := mustDefault(t, spec.DefaultCapabilities)
	if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != 1 {
		t.Errorf("default action %s errno %v, want SCMP_ACT_ERRNO with EPERM", s.DefaultAction, s.DefaultErrnoRet)
	}
	if len(s.Architectures) == 0 || s.Architectures[0] != machineABIs[0].arch {
		t.Errorf("architectures %v on %s, want %s first", s.Architectures, runtime.GOARCH, machineABIs[0].arch)
	}
}

func TestLoad(t *testing.T) {
	for _, tt := range []struct {
		caps      []string
		wantMount bool
	}{{nil, false}, {[]string{"CAP_SYS_ADMIN"}, true}} {
		s, err := Load("testdata/small.json", tt.caps)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(rulesFor(s, "mount")) > 0; got != tt.wantMount {
			t.Errorf("caps %v: mount rule %v, want %v", tt.caps, got, tt.wantMount)
		}
		if got := len(rulesFor(s, "unshare")) > 0; got == tt.wantMount {
			t.Errorf("caps %v: unshare rule %v, want %v", tt.caps, got, !tt.wantMount)
		}
		if !slices.Contains(s.Architectures, machineABIs[0].arch) {
			t.Errorf("architectures %v, want %s from archMap", s.Architectures, machineABIs[0].arch)
		}
		mustCompile(t, s)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string // the file; none at all when "-"
		want    string
	}{
		{"missing file", "-", "read seccomp profile: open %s: no such file or directory"},
		{"empty file", "  \n", "seccomp profile %s is empty"},
		{"bad JSON", "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [}\n", "seccomp profile %s: invalid JSON at line 3, column 16: invalid character '}' looking for beginning of value"},
		{"truncated JSON", `{"defaultAction": "SCMP_ACT_ERRNO"`, "seccomp profile %s: invalid JSON at line 1, column 35: unexpected end of JSON input"},
		{"wrong type", "{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"defaultErrnoRet\": \"EPERM\"}", "seccomp profile %s: defaultErrnoRet on line 2 must be uint, not string"},
		{"wrong type deep down", "{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ALLOW\",\n \"args\": [{\"index\": \"one\"}]}]}",
			"seccomp profile %s: syscalls.args.index on line 3 must be uint, not string"},
		{"unknown action", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_FOO"}]}`,
			`seccomp profile %s: rule for mkdir: unknown action "SCMP_ACT_FOO"`},
		{"unknown default action", `{"defaultAction": "SCMP_ACT_NOPE"}`, `seccomp profile %s: defaultAction: unknown action "SCMP_ACT_NOPE"`},
		{"unknown op", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 2, "op": "SCMP_CMP_SOMETIMES"}]}]}`,
			`seccomp profile %s: rule for mkdir: argument 1: unknown op "SCMP_CMP_SOMETIMES"`},
		{"no default action", `{"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"}]}`, "seccomp profile %s: no defaultAction"},
		{"nothing at all", `{}`, "seccomp profile %s has neither defaultAction nor syscalls"},
		{"archMap and architectures", `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}`,
			"seccomp profile %s: both 'architectures' and 'archMap' are specified"},
		{"blocks what init needs", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}`,
			"seccomp profile %s: it refuses prctl, which crate-init needs once the filter is on (to drop privileges and execute the command)"},
		{"bad kernel version", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "four"}}]}`,
			`seccomp profile %s: invalid kernel version: "four"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".json")
			if tt.content != "-" {
				if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(path, spec.DefaultCapabilities)
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			msg := err.Error()
			if want := strings.ReplaceAll(tt.want, "%s", path); !strings.HasPrefix(msg, want) {
				t.Errorf("error\n  %s\nwant it to start with\n  %s", msg, want)
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, "failed") {
				t.Errorf("error %q is not one plain sentence", msg)
			}
		})
	}
}
