package profile

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/seccomp"
	"github.com/crate-run/crate/pkg/spec"
	"github.com/crate-run/crate/pkg/testutil"
)

// Verdicts as the kernel sees them.
const (
	allow   = unix.SECCOMP_RET_ALLOW
	eperm   = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys  = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	killAll = unix.SECCOMP_RET_KILL_PROCESS
)

// call is one system call as the filter sees it.
type call struct {
	nr, arch uint32
	args     [6]uint64
}

// run executes p on c the way the kernel does, for the instructions Compile
// writes, and returns the verdict.
func run(t testing.TB, p seccomp.Program, c call) uint32 {
	ret, err := runProgram(p, c.nr, c.arch, c.args)
	if err != nil {
		t.Fatal(err)
	}
	return ret
}

// expect is what the package documentation says a filter for s returns for
// the call named name with args: written straight from the profile, as a
// second opinion on the compiled program.
func expect(t testing.TB, s *specs.LinuxSeccomp, name string, args [6]uint64) uint32 {
	def := mustVerdict(t, s.DefaultAction, s.DefaultErrnoRet)
	var named []specs.LinuxSyscall
	for _, r := range s.Syscalls {
		if slices.Contains(r.Names, name) && mustVerdict(t, r.Action, r.ErrnoRet) != def {
			named = append(named, r)
		}
	}
	for _, r := range named {
		if len(r.Args) == 0 {
			return mustVerdict(t, r.Action, r.ErrnoRet)
		}
	}
	for _, r := range named {
		if all(r.Args, func(a specs.LinuxSeccompArg) bool { return holds(a, args[a.Index]) }) {
			return mustVerdict(t, r.Action, r.ErrnoRet)
		}
	}
	return def
}

func holds(a specs.LinuxSeccompArg, v uint64) bool {
	switch a.Op {
	case specs.OpEqualTo:
		return v == a.Value
	case specs.OpNotEqual:
		return v != a.Value
	case specs.OpLessThan:
		return v < a.Value
	case specs.OpLessEqual:
		return v <= a.Value
	case specs.OpGreaterThan:
		return v > a.Value
	case specs.OpGreaterEqual:
		return v >= a.Value
	case specs.OpMaskedEqual:
		return v&a.Value == a.ValueTwo
	}
	panic("unknown op " + a.Op)
}

func all[T any](s []T, f func(T) bool) bool {
	for _, x := range s {
		if !f(x) {
			return false
		}
	}
	return true
}

func mustVerdict(t testing.TB, action specs.LinuxSeccompAction, errnoRet *uint) uint32 {
	t.Helper()
	v, err := verdict(action, errnoRet)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// argVectors are the arguments to try a call with: all zero, and around every
// value its rules compare with.
func argVectors(s *specs.LinuxSeccomp, name string) [][6]uint64 {
	vectors := [][6]uint64{{}}
	for _, r := range s.Syscalls {
		if !slices.Contains(r.Names, name) {
			continue
		}
		for _, a := range r.Args {
			for _, v := range []uint64{a.Value, a.Value - 1, a.Value + 1, a.ValueTwo, a.Value | a.ValueTwo,
				a.Value ^ 1<<32, a.Value ^ 1<<63, ^uint64(0), 1 << 32} {
				var args [6]uint64
				args[a.Index] = v
				vectors = append(vectors, args)
			}
		}
	}
	return vectors
}

func mustCompile(t testing.TB, s *specs.LinuxSeccomp) seccomp.Program {
	t.Helper()
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	// What crate-init will decode must be what was compiled.
	b, _ := p.MarshalBinary()
	var decoded seccomp.Program
	if err := decoded.UnmarshalBinary(b); err != nil {
		t.Fatalf("crate-init would refuse the compiled program: %v", err)
	}
	return p
}

func mustDefault(t testing.TB, caps []string) *specs.LinuxSeccomp {
	t.Helper()
	s, err := Default(caps)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// conventionCalls lists the system calls of a, with the numbers a process
// passes: for x32, every x86_64 call and x32's own, with the x32 bit.
func conventionCalls(a abi) []syscallNumber {
	if a.bit == 0 {
		return a.table.calls
	}
	calls := mergeCalls(machineABIs[0].table.calls, a.table.calls)
	for i := range calls {
		calls[i].nr |= a.bit
	}
	return calls
}

// TestCompileMatchesProfile runs every system call of every calling
// convention of this machine through the compiled Docker profile, and
// compares the verdict with what the profile says.
func TestCompileMatchesProfile(t *testing.T) {
	for setName, caps := range testutil.CapabilitySets {
		t.Run(setName, func(t *testing.T) {
			s := mustDefault(t, caps)
			p := mustCompile(t, s)
			for _, a := range machineABIs {
				if !slices.Contains(s.Architectures, a.arch) {
					t.Fatalf("Docker's profile does not list %s", a.arch)
				}
				for _, c := range conventionCalls(a) {
					name := syscallNames[c.name]
					for _, args := range argVectors(s, name) {
						got := run(t, p, call{nr: c.nr, arch: a.audit, args: args})
						if want := expect(t, s, name, args); got != want {
							t.Errorf("%s %s(%#x): verdict %#x, want %#x", a.arch, name, args, got, want)
						}
					}
				}
			}
		})
	}
}

// TestCompileDockerDecisions spells out some decisions of Docker's profile on
// this machine's native convention, as a reader would look them up.
func TestCompileDockerDecisions(t *testing.T) {
	native := machineABIs[0]
	nr := func(name string) uint32 {
		id, ok := slices.BinarySearch(syscallNames[:], name)
		if !ok {
			t.Fatalf("no syscall %s", name)
		}
		for _, c := range native.table.calls {
			if int(c.name) == id {
				return c.nr
			}
		}
		t.Fatalf("%s has no %s", native.arch, name)
		return 0
	}
	tests := []struct {
		caps []string
		name string
		args [6]uint64
		want uint32
	}{
		{spec.DefaultCapabilities, "getpid", [6]uint64{}, allow},
		{spec.DefaultCapabilities, "execve", [6]uint64{}, allow},
		{spec.DefaultCapabilities, "capset", [6]uint64{}, allow},
		{spec.DefaultCapabilities, "setresuid", [6]uint64{}, allow},
		{spec.DefaultCapabilities, "setgroups", [6]uint64{}, allow},
		{spec.DefaultCapabilities, "prctl", [6]uint64{}, allow},
		{spec.DefaultCapabilities, "keyctl", [6]uint64{}, eperm},
		{spec.DefaultCapabilities, "add_key", [6]uint64{}, eperm},
		{spec.DefaultCapabilities, "unshare", [6]uint64{unix.CLONE_NEWUSER}, eperm},
		{spec.DefaultCapabilities, "mount", [6]uint64{}, eperm},
		{spec.DefaultCapabilities, "bpf", [6]uint64{}, eperm},
		{spec.DefaultCapabilities, "perf_event_open", [6]uint64{}, eperm},
		{spec.DefaultCapabilities, "init_module", [6]uint64{}, eperm},
		{spec.DefaultCapabilities, "reboot", [6]uint64{}, eperm},
		{spec.DefaultCapabilities, "personality", [6]uint64{0xffffffff}, allow},
		{spec.DefaultCapabilities, "personality", [6]uint64{0x0008}, allow},
		{spec.DefaultCapabilities, "personality", [6]uint64{0x0040000}, eperm},
		{spec.DefaultCapabilities, "personality", [6]uint64{1<<32 | 0x0008}, eperm},
		{spec.DefaultCapabilities, "clone", [6]uint64{uint64(unix.SIGCHLD)}, allow},
		{spec.DefaultCapabilities, "clone", [6]uint64{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}, allow},
		{spec.DefaultCapabilities, "clone", [6]uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, eperm},
		{spec.DefaultCapabilities, "clone", [6]uint64{unix.CLONE_NEWNET}, eperm},
		{spec.DefaultCapabilities, "clone3", [6]uint64{}, enosys},
		{spec.DefaultCapabilities, "socket", [6]uint64{unix.AF_UNIX}, allow},
		{spec.DefaultCapabilities, "socket", [6]uint64{unix.AF_INET6}, allow},
		{spec.DefaultCapabilities, "socket", [6]uint64{unix.AF_VSOCK}, eperm},
		{spec.DefaultCapabilities, "socket", [6]uint64{unix.AF_ALG}, eperm},
		{spec.DefaultCapabilities, "socket", [6]uint64{1<<32 | unix.AF_UNIX}, eperm},
		{[]string{"CAP_SYS_ADMIN"}, "unshare", [6]uint64{unix.CLONE_NEWUSER}, allow},
		{[]string{"CAP_SYS_ADMIN"}, "clone", [6]uint64{unix.CLONE_NEWUSER}, allow},
		{[]string{"CAP_SYS_ADMIN"}, "clone3", [6]uint64{}, allow},
		{[]string{"CAP_SYS_ADMIN"}, "mount", [6]uint64{}, allow},
		{[]string{"CAP_SYS_ADMIN"}, "reboot", [6]uint64{}, eperm},
		{[]string{"CAP_SYS_BOOT"}, "reboot", [6]uint64{}, allow},
		{[]string{"CAP_SYS_MODULE"}, "init_module", [6]uint64{}, allow},
		{[]string{"CAP_BPF"}, "bpf", [6]uint64{}, allow},
		{[]string{"CAP_PERFMON"}, "perf_event_open", [6]uint64{}, allow},
		{[]string{"CAP_SYS_PTRACE"}, "kcmp", [6]uint64{}, allow},
		{nil, "kcmp", [6]uint64{}, eperm},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s(%#x) with %s", tt.name, tt.args[0], strings.Join(tt.caps, ",")), func(t *testing.T) {
			p := mustCompile(t, mustDefault(t, tt.caps))
			got := run(t, p, call{nr: nr(tt.name), arch: native.audit, args: tt.args})
			if got != tt.want {
				t.Errorf("verdict %#x, want %#x", got, tt.want)
			}
		})
	}
}

// TestCompileAllowsInit checks that Docker's profile, for any capability
// set, lets through what crate-init does after it installs the filter: drop
// capabilities, switch user, set no_new_privs, read /etc/passwd, report to
// the supervisor, close descriptors and execute the command; and what the Go
// runtime does meanwhile (threads, signals, memory).
func TestCompileAllowsInit(t *testing.T) {
	for setName, caps := range testutil.CapabilitySets {
		if err := checkInitCalls(mustCompile(t, mustDefault(t, caps))); err != nil {
			t.Errorf("%s: %v", setName, err)
		}
	}
}

// TestCompileNumbersOutsideTables checks the numbers no table names: holes,
// calls newer than the tables, conventions the profile leaves out, and
// foreign architectures.
func TestCompileNumbersOutsideTables(t *testing.T) {
	native := machineABIs[0]
	// onlyGetpid allows getpid; the default action def returns errno 42 if
	// it returns an errno.
	onlyGetpid := func(def specs.LinuxSeccompAction, arches ...specs.Arch) *specs.LinuxSeccomp {
		s := &specs.LinuxSeccomp{
			DefaultAction: def,
			Architectures: arches,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: specs.ActAllow}},
		}
		if def == specs.ActErrno {
			errno := uint(42)
			s.DefaultErrnoRet = &errno
		}
		return s
	}
	e42 := unix.SECCOMP_RET_ERRNO | uint32(42)
	future := native.table.futureFrom
	tests := []struct {
		name string
		s    *specs.LinuxSeccomp
		c    call
		want uint32
	}{
		{"newer than the table, deny by default", onlyGetpid(specs.ActErrno), call{nr: future, arch: native.audit}, enosys},
		{"far newer than the table", onlyGetpid(specs.ActErrno), call{nr: future + 1000, arch: native.audit}, enosys},
		{"newer than the table, kill by default", onlyGetpid(specs.ActKillProcess), call{nr: future, arch: native.audit}, enosys},
		{"newer than the table, log by default", onlyGetpid(specs.ActLog), call{nr: future, arch: native.audit}, unix.SECCOMP_RET_LOG},
		{"last known call", onlyGetpid(specs.ActErrno), call{nr: future - 1, arch: native.audit}, e42},
		{"foreign arch", onlyGetpid(specs.ActAllow), call{nr: 0, arch: unix.AUDIT_ARCH_S390X}, killAll},
		{"foreign arch, deny by default", onlyGetpid(specs.ActErrno), call{nr: 0, arch: unix.AUDIT_ARCH_PPC64LE}, killAll},
	}
	if native.arch == specs.ArchX86_64 {
		const x32 = 0x40000000 // __X32_SYSCALL_BIT
		getpid32, getpidX32 := uint32(20), uint32(x32|39)
		tests = append(tests, []struct {
			name string
			s    *specs.LinuxSeccomp
			c    call
			want uint32
		}{
			{"hole in the table", onlyGetpid(specs.ActErrno), call{nr: 335 + 1000, arch: native.audit}, enosys},
			{"x32 left out", onlyGetpid(specs.ActAllow), call{nr: getpidX32, arch: native.audit}, killAll},
			{"x32 listed", onlyGetpid(specs.ActErrno, specs.ArchX32), call{nr: getpidX32, arch: native.audit}, allow},
			{"x32 listed, other call", onlyGetpid(specs.ActErrno, specs.ArchX32), call{nr: x32 | 40, arch: native.audit}, e42},
			{"x32 64-bit-only number", onlyGetpid(specs.ActAllow, specs.ArchX32), call{nr: x32 | 13, arch: native.audit}, allow},
			{"x32 compat call", onlyGetpid(specs.ActErrno, specs.ArchX32), call{nr: x32 | 520, arch: native.audit}, e42},
			{"x32 newer than its table", onlyGetpid(specs.ActErrno, specs.ArchX32), call{nr: x32 | 470, arch: native.audit}, enosys},
			{"i386 left out", onlyGetpid(specs.ActAllow), call{nr: getpid32, arch: unix.AUDIT_ARCH_I386}, killAll},
			{"i386 listed", onlyGetpid(specs.ActErrno, specs.ArchX86), call{nr: getpid32, arch: unix.AUDIT_ARCH_I386}, allow},
			{"i386 listed, not x32", onlyGetpid(specs.ActErrno, specs.ArchX86), call{nr: getpidX32, arch: native.audit}, killAll},
		}...)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(t, mustCompile(t, tt.s), tt.c); got != tt.want {
				t.Errorf("verdict %#x, want %#x", got, tt.want)
			}
		})
	}
}

// TestCompileConditions checks each comparison on 64-bit values whose halves
// differ, against Go's own operators.
func TestCompileConditions(t *testing.T) {
	const (
		hi = uint64(0x00000001_00000000)
		v  = hi | 0x8000_0005
	)
	var values []uint64
	for _, h := range []uint64{0, 1, 2, 3, 0x8000_0001, 0xffff_ffff} {
		for _, l := range []uint64{0, 4, 5, 6, 0x8000_0004, 0x8000_0005, 0x8000_0006, 0xffff_ffff} {
			values = append(values, h<<32|l)
		}
	}
	ops := []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual}
	native := machineABIs[0]
	getpid := native.table.calls[slices.IndexFunc(native.table.calls, func(c syscallNumber) bool {
		return syscallNames[c.name] == "getpid"
	})].nr
	for _, op := range ops {
		for _, index := range []uint{0, 5} {
			t.Run(fmt.Sprintf("%s on argument %d", op, index), func(t *testing.T) {
				arg := specs.LinuxSeccompArg{Index: index, Value: v, ValueTwo: 0x1_0000_0004, Op: op}
				s := &specs.LinuxSeccomp{
					DefaultAction: specs.ActErrno,
					Syscalls:      []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{arg}}},
				}
				p := mustCompile(t, s)
				for _, x := range values {
					var args [6]uint64
					args[index] = x
					want := eperm
					if holds(arg, x) {
						want = allow
					}
					if got := run(t, p, call{nr: getpid, arch: native.audit, args: args}); got != want {
						t.Errorf("%#x %s %#x: verdict %#x, want %#x", x, op, v, got, want)
					}
				}
			})
		}
	}
}

// TestCompileRuleOrder checks how several rules for one call combine.
func TestCompileRuleOrder(t *testing.T) {
	errno := func(e uint) *uint { return &e }
	eq := func(i uint, v uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: i, Value: v, Op: specs.OpEqualTo}
	}
	rule := func(action specs.LinuxSeccompAction, e *uint, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: []string{"getpid"}, Action: action, ErrnoRet: e, Args: args}
	}
	tests := []struct {
		name  string
		rules []specs.LinuxSyscall
		args  [6]uint64
		want  uint32
	}{
		{"conditions of one rule are ANDed",
			[]specs.LinuxSyscall{rule(specs.ActAllow, nil, eq(0, 1), eq(1, 2))}, [6]uint64{1, 3}, eperm},
		{"conditions of one rule all hold",
			[]specs.LinuxSyscall{rule(specs.ActAllow, nil, eq(0, 1), eq(1, 2))}, [6]uint64{1, 2}, allow},
		{"same argument twice is ANDed",
			[]specs.LinuxSyscall{rule(specs.ActAllow, nil, eq(0, 1), eq(0, 2))}, [6]uint64{1}, eperm},
		{"rules are ORed",
			[]specs.LinuxSyscall{rule(specs.ActAllow, nil, eq(0, 1)), rule(specs.ActAllow, nil, eq(0, 2))}, [6]uint64{2}, allow},
		{"first matching rule decides",
			[]specs.LinuxSyscall{rule(specs.ActErrno, errno(7), eq(0, 1)), rule(specs.ActAllow, nil, eq(0, 1))}, [6]uint64{1}, unix.SECCOMP_RET_ERRNO | 7},
		{"rule without conditions overrides earlier ones with",
			[]specs.LinuxSyscall{rule(specs.ActErrno, errno(7), eq(0, 1)), rule(specs.ActAllow, nil)}, [6]uint64{1}, allow},
		{"first rule without conditions wins",
			[]specs.LinuxSyscall{rule(specs.ActErrno, errno(7)), rule(specs.ActAllow, nil)}, [6]uint64{}, unix.SECCOMP_RET_ERRNO | 7},
		{"rule with the default action is skipped",
			[]specs.LinuxSyscall{rule(specs.ActErrno, nil), rule(specs.ActAllow, nil)}, [6]uint64{}, allow},
		{"a run of equality tests keeps its place",
			[]specs.LinuxSyscall{rule(specs.ActAllow, nil, eq(0, 1)), rule(specs.ActErrno, errno(7), eq(0, 2)), rule(specs.ActAllow, nil, eq(0, 2)), rule(specs.ActAllow, nil, eq(0, 3))},
			[6]uint64{2}, unix.SECCOMP_RET_ERRNO | 7},
		{"a run of equality tests matches its last value",
			[]specs.LinuxSyscall{rule(specs.ActAllow, nil, eq(0, 1)), rule(specs.ActAllow, nil, eq(0, 2)), rule(specs.ActAllow, nil, eq(0, 3))},
			[6]uint64{3}, allow},
		{"a run of equality tests compares high halves",
			[]specs.LinuxSyscall{rule(specs.ActAllow, nil, eq(0, 1)), rule(specs.ActAllow, nil, eq(0, 2))},
			[6]uint64{1<<32 | 2}, eperm},
		{"equality tests with other high halves are no run",
			[]specs.LinuxSyscall{rule(specs.ActAllow, nil, eq(0, 1<<32|2)), rule(specs.ActAllow, nil, eq(0, 2))},
			[6]uint64{2}, allow},
		{"equality tests of other arguments are no run",
			[]specs.LinuxSyscall{rule(specs.ActAllow, nil, eq(0, 1)), rule(specs.ActAllow, nil, eq(1, 2))},
			[6]uint64{0, 2}, allow},
		{"unknown names are skipped",
			[]specs.LinuxSyscall{{Names: []string{"no_such_call", "getpid"}, Action: specs.ActAllow}}, [6]uint64{}, allow},
	}
	native := machineABIs[0]
	id, _ := slices.BinarySearch(syscallNames[:], "getpid")
	getpid := native.table.calls[slices.IndexFunc(native.table.calls, func(c syscallNumber) bool { return int(c.name) == id })].nr
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: tt.rules})
			if got := run(t, p, call{nr: getpid, arch: native.audit, args: tt.args}); got != tt.want {
				t.Errorf("verdict %#x, want %#x", got, tt.want)
			}
		})
	}
}

// TestCompileLongJumps compiles a profile large enough that jumps must go
// through trampolines, and checks every decision still holds.
func TestCompileLongJumps(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	for v := range uint64(300) {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
			Names:  []string{"personality", "getpid"},
			Action: specs.ActAllow,
			Args:   []specs.LinuxSeccompArg{{Index: 0, Value: v * 3, Op: specs.OpEqualTo}},
		})
	}
	s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow})
	p := mustCompile(t, s)
	if !slices.ContainsFunc(p, func(in seccomp.Instruction) bool { return in.Code == opJump }) {
		t.Fatalf("a %d-instruction program needed no long jump; the test tests nothing", len(p))
	}
	native := machineABIs[0]
	for _, c := range native.table.calls {
		name := syscallNames[c.name]
		for _, x := range []uint64{0, 1, 3, 450, 451, 897, 900} {
			args := [6]uint64{x}
			if got, want := run(t, p, call{nr: c.nr, arch: native.audit, args: args}), expect(t, s, name, args); got != want {
				t.Errorf("%s(%d): verdict %#x, want %#x", name, x, got, want)
			}
		}
	}
}

// TestCompileIsDeterministic: one profile, one program, byte for byte.
func TestCompileIsDeterministic(t *testing.T) {
	s := mustDefault(t, spec.DefaultCapabilities)
	first, _ := mustCompile(t, s).MarshalBinary()
	for range 5 {
		again, _ := mustCompile(t, s).MarshalBinary()
		if string(again) != string(first) {
			t.Fatal("compiling the same profile twice gave two programs")
		}
	}
}

func TestCompileActions(t *testing.T) {
	errno := func(e uint) *uint { return &e }
	tests := []struct {
		action specs.LinuxSeccompAction
		errno  *uint
		want   uint32
	}{
		{specs.ActAllow, nil, unix.SECCOMP_RET_ALLOW},
		{specs.ActErrno, nil, eperm},
		{specs.ActErrno, errno(uint(unix.ENOSYS)), enosys},
		{specs.ActErrno, errno(0), unix.SECCOMP_RET_ERRNO},
		{specs.ActKill, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillThread, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillProcess, nil, unix.SECCOMP_RET_KILL_PROCESS},
		{specs.ActTrap, nil, unix.SECCOMP_RET_TRAP},
		{specs.ActLog, nil, unix.SECCOMP_RET_LOG},
		{specs.ActTrace, errno(3), unix.SECCOMP_RET_TRACE | 3},
	}
	for _, tt := range tests {
		t.Run(string(tt.action), func(t *testing.T) {
			got, err := verdict(tt.action, tt.errno)
			if err != nil || got != tt.want {
				t.Errorf("verdict: %#x, %v; want %#x", got, err, tt.want)
			}
		})
	}
}

func TestCompileRejects(t *testing.T) {
	errno := func(e uint) *uint { return &e }
	rule := func(r specs.LinuxSyscall) *specs.LinuxSeccomp {
		if r.Names == nil {
			r.Names = []string{"getpid"}
		}
		return &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{r}}
	}
	huge := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	for v := range uint64(1000) {
		huge.Syscalls = append(huge.Syscalls, specs.LinuxSyscall{Names: []string{"personality"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: v, Op: specs.OpEqualTo}, {Index: 1, Value: v, Op: specs.OpEqualTo}}})
	}
	tests := []struct {
		name string
		s    *specs.LinuxSeccomp
		want string
	}{
		{"no profile", nil, "no profile"},
		{"no default action", &specs.LinuxSeccomp{}, "no defaultAction"},
		{"unknown default action", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_MAYBE"}, `defaultAction: unknown action "SCMP_ACT_MAYBE"`},
		{"unknown action", rule(specs.LinuxSyscall{Action: "SCMP_ACT_FOO"}), `rule for getpid: unknown action "SCMP_ACT_FOO"`},
		{"missing action", rule(specs.LinuxSyscall{}), "rule for getpid: no action"},
		{"notify", rule(specs.LinuxSyscall{Action: specs.ActNotify}), "no seccomp agent"},
		{"errno out of range", rule(specs.LinuxSyscall{Action: specs.ActErrno, ErrnoRet: errno(5000)}), "errnoRet 5000 is not an errno"},
		{"errno with allow", rule(specs.LinuxSyscall{Action: specs.ActAllow, ErrnoRet: errno(1)}), "returns no errno"},
		{"unknown op", rule(specs.LinuxSyscall{Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_ABOUT"}}}), `unknown op "SCMP_CMP_ABOUT"`},
		{"argument 6", rule(specs.LinuxSyscall{Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}), "argument index 6"},
		{"long rule named shortly", rule(specs.LinuxSyscall{Names: []string{"a", "b", "c", "d", "e"}, Action: "x"}), "rule for a, b, c and 2 more:"},
		{"flags", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog}}, "flag SECCOMP_FILTER_FLAG_LOG is not supported"},
		{"listener", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: "/run/agent.sock"}, "listenerPath is not supported"},
		{"too big for the kernel", huge, "more than the kernel's limit of 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile: %v, want an error with %q", err, tt.want)
			}
		})
	}
}
