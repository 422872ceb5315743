package seccomp_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/seccomp"
	"github.com/crate-run/crate/pkg/seccomp/profile"
	"github.com/crate-run/crate/pkg/spec"
	"github.com/crate-run/crate/pkg/testutil"
)

// The tests that install a filter run it in a child: the test binary started
// again with childEnv naming a childConfig file. TestMain sends the child to
// childMain before any test runs, so the test process itself never has a
// filter.
const childEnv = "CRATE_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if config := os.Getenv(childEnv); config != "" {
		os.Exit(childMain(config))
	}
	os.Exit(m.Run())
}

// childConfig is what a child does.
type childConfig struct {
	Program seccomp.Program `json:",omitempty"`
	// Unchecked, when set, is installed instead of Program: a program that
	// decoding would refuse.
	Unchecked []seccomp.Instruction
	// NoNewPrivs sets no_new_privs before Install.
	NoNewPrivs bool
	// WithoutSysAdmin drops CAP_SYS_ADMIN from the effective set before
	// Install.
	WithoutSysAdmin bool
	// Probes are system calls to make after Install.
	Probes []probe
	// InitSequence does, after Install, what crate-init does before it runs
	// the command (drop capabilities, switch to nobody, no_new_privs), then
	// executes /bin/true.
	InitSequence bool
}

// probe is one system call, chosen to be harmless when the filter lets it
// through: most have arguments the kernel rejects, with an errno that differs
// from the filter's.
type probe struct {
	Name string
	Nr   uintptr
	Args [6]uintptr
	// Fork runs /bin/true with os/exec instead of a raw system call.
	Fork bool
}

// childReport is what a child writes to its stdout.
type childReport struct {
	InstallError string
	Errnos       map[string]unix.Errno // by probe name; 0 when the call succeeded
	ForkError    string
}

var (
	probeGetpid          = probe{Name: "getpid", Nr: unix.SYS_GETPID}
	probeKeyctl          = probe{Name: "keyctl", Nr: unix.SYS_KEYCTL, Args: [6]uintptr{0xffff}}
	probeAddKey          = probe{Name: "add_key", Nr: unix.SYS_ADD_KEY}
	probeUnshareUserns   = probe{Name: "unshare(CLONE_NEWUSER)", Nr: unix.SYS_UNSHARE, Args: [6]uintptr{unix.CLONE_NEWUSER}}
	probeBPF             = probe{Name: "bpf", Nr: unix.SYS_BPF, Args: [6]uintptr{1000}}
	probePerfEventOpen   = probe{Name: "perf_event_open", Nr: unix.SYS_PERF_EVENT_OPEN, Args: [6]uintptr{0, 0, ^uintptr(0), ^uintptr(0)}}
	probeInitModule      = probe{Name: "init_module", Nr: unix.SYS_INIT_MODULE}
	probeReboot          = probe{Name: "reboot (bad magic)", Nr: unix.SYS_REBOOT}
	probeKcmp            = probe{Name: "kcmp", Nr: unix.SYS_KCMP, Args: [6]uintptr{1, 1, 99}}
	probeOpenByHandle    = probe{Name: "open_by_handle_at", Nr: unix.SYS_OPEN_BY_HANDLE_AT, Args: [6]uintptr{^uintptr(0)}}
	probePersonality     = probe{Name: "personality(query)", Nr: unix.SYS_PERSONALITY, Args: [6]uintptr{0xffffffff}}
	probePersonalityBad  = probe{Name: "personality(ADDR_NO_RANDOMIZE)", Nr: unix.SYS_PERSONALITY, Args: [6]uintptr{0x0040000}}
	probeCloneUserns     = probe{Name: "clone(CLONE_NEWUSER)", Nr: unix.SYS_CLONE, Args: [6]uintptr{unix.CLONE_NEWUSER | unix.CLONE_THREAD}}
	probeClonePlain      = probe{Name: "clone(CLONE_THREAD)", Nr: unix.SYS_CLONE, Args: [6]uintptr{unix.CLONE_THREAD}}
	probeClone3          = probe{Name: "clone3", Nr: unix.SYS_CLONE3}
	probeSocketVsock     = probe{Name: "socket(AF_VSOCK)", Nr: unix.SYS_SOCKET, Args: [6]uintptr{unix.AF_VSOCK, unix.SOCK_STREAM}}
	probeSocketUnix      = probe{Name: "socket(AF_UNIX)", Nr: unix.SYS_SOCKET, Args: [6]uintptr{unix.AF_UNIX, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}}
	probeNewerThanTables = probe{Name: "file_getattr", Nr: 468} // Linux 6.17, newer than the tables (6.15)
	probeFork            = probe{Name: "fork and exec /bin/true", Fork: true}
)

// childMain runs in the child: it installs the filter, makes the probes and
// reports. Its return value is the child's exit code.
func childMain(configPath string) int {
	var c childConfig
	data, err := os.ReadFile(configPath)
	if err == nil {
		err = json.Unmarshal(data, &c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "read child config:", err)
		return 2
	}
	// Capabilities and no_new_privs belong to a thread: set them on the one
	// that installs the filter, as crate-init does on its locked thread.
	runtime.LockOSThread()
	if c.WithoutSysAdmin {
		if err := dropEffective(unix.CAP_SYS_ADMIN); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	if c.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "set no_new_privs:", err)
			return 2
		}
	}
	report := childReport{Errnos: map[string]unix.Errno{}}
	if c.Unchecked != nil {
		c.Program = c.Unchecked
	}
	if err := seccomp.Install(c.Program); err != nil {
		report.InstallError = err.Error()
		return writeReport(report)
	}
	for _, p := range c.Probes {
		if p.Fork {
			if err := exec.Command("/bin/true").Run(); err != nil {
				report.ForkError = err.Error()
			}
			continue
		}
		_, _, errno := unix.RawSyscall6(p.Nr, p.Args[0], p.Args[1], p.Args[2], p.Args[3], p.Args[4], p.Args[5])
		report.Errnos[p.Name] = errno
	}
	if c.InitSequence {
		if err := initSequence(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
	}
	return writeReport(report)
}

func writeReport(r childReport) int {
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return 2
	}
	return 0
}

// initSequence does what crate-init does between Install and running the
// command, with the same system calls, and ends in execve.
func initSequence() error {
	for c := unix.CAP_SYS_ADMIN; c <= unix.CAP_SYS_BOOT; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_CAPBSET_DROP, %d): %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_CAP_AMBIENT_CLEAR_ALL): %w", err)
	}
	if err := syscall.Setgroups([]int{65534}); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	// crate-init uses setgid and setuid; setresgid and setresuid too, for
	// other inits.
	if err := syscall.Setgid(65534); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setresgid(65534, 65534, 65534); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	if err := syscall.Setuid(65534); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	if err := syscall.Setresuid(65534, 65534, 65534); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var none [2]unix.CapUserData
	if err := unix.Capset(&hdr, &none[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/null: %w", err)
	}
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return unix.Exec("/bin/true", []string{"true"}, nil)
}

// dropEffective removes capability c from this thread's effective set.
func dropEffective(c int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[c/32].Effective &^= 1 << (c % 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// runChild runs c in a child and returns its report. A child that is not
// root sets no_new_privs, the only way it may install a filter.
func runChild(t *testing.T, c childConfig) childReport {
	t.Helper()
	if os.Geteuid() != 0 {
		c.NoNewPrivs = true
	}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "child.json")
	if err := os.WriteFile(config, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+config)
	if os.Getenv("GORACE") == "" {
		// Under -race, a process sleeps a second before it exits.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstderr: %s", err, stderr.String())
	}
	var r childReport
	if c.InitSequence {
		// /bin/true replaced the child: exit status 0 and no report.
		if stdout.Len() > 0 {
			t.Fatalf("the child reported instead of running /bin/true: %s", stdout.String())
		}
		return r
	}
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("child report %q: %v\nstderr: %s", stdout.String(), err, stderr.String())
	}
	return r
}

// dockerProfile is Docker's default profile for caps.
func dockerProfile(t *testing.T, caps []string) *specs.LinuxSeccomp {
	t.Helper()
	s, err := profile.Default(caps)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCompile(t *testing.T, s *specs.LinuxSeccomp) seccomp.Program {
	t.Helper()
	p, err := profile.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func errnoName(e unix.Errno) string {
	if e == 0 {
		return "success"
	}
	if name := unix.ErrnoName(e); name != "" {
		return name
	}
	return fmt.Sprintf("errno %d", int(e))
}

// TestInstallDockerDefault installs Docker's profile and makes calls it
// allows and calls it refuses.
func TestInstallDockerDefault(t *testing.T) {
	probes := []struct {
		p    probe
		want unix.Errno
	}{
		{probeGetpid, 0},
		{probeKeyctl, unix.EPERM},
		{probeAddKey, unix.EPERM},
		{probeUnshareUserns, unix.EPERM},
		{probeBPF, unix.EPERM},
		{probePerfEventOpen, unix.EPERM},
		{probeInitModule, unix.EPERM},
		{probeReboot, unix.EPERM},
		{probeKcmp, unix.EPERM},
		{probePersonality, 0},
		{probePersonalityBad, unix.EPERM},
		{probeCloneUserns, unix.EPERM},
		{probeClonePlain, unix.EINVAL}, // the filter lets it through; the kernel wants CLONE_SIGHAND
		{probeClone3, unix.ENOSYS},     // Docker's choice, so that libc falls back to clone
		{probeSocketVsock, unix.EPERM},
		{probeSocketUnix, 0},
		{probeNewerThanTables, unix.ENOSYS},
	}
	for _, set := range []string{"no capabilities", "docker default"} {
		t.Run(set, func(t *testing.T) {
			c := childConfig{Program: mustCompile(t, dockerProfile(t, testutil.CapabilitySets[set])), Probes: []probe{probeFork}}
			for _, p := range probes {
				c.Probes = append(c.Probes, p.p)
			}
			r := runChild(t, c)
			if r.InstallError != "" {
				t.Fatal(r.InstallError)
			}
			for _, p := range probes {
				if got := r.Errnos[p.p.Name]; got != p.want {
					t.Errorf("%s: %s, want %s", p.p.Name, errnoName(got), errnoName(p.want))
				}
			}
			if r.ForkError != "" {
				t.Errorf("fork and exec /bin/true: %s", r.ForkError)
			}
		})
	}
}

// TestInstallCapabilityRules checks the rules Docker ties to capabilities in
// the installed filter. The profile's default errno is replaced by a marker
// that no kernel returns, which tells the filter's refusal from the kernel's
// own (an unprivileged reboot is EPERM either way).
func TestInstallCapabilityRules(t *testing.T) {
	const marker = unix.Errno(200)
	tests := []struct {
		capability string
		probes     []probe
	}{
		{"CAP_SYS_ADMIN", []probe{probeUnshareUserns, probeCloneUserns, probeClone3}},
		{"CAP_SYS_BOOT", []probe{probeReboot}},
		{"CAP_SYS_MODULE", []probe{probeInitModule}},
		{"CAP_BPF", []probe{probeBPF}},
		{"CAP_PERFMON", []probe{probePerfEventOpen}},
		{"CAP_SYS_PTRACE", []probe{probeKcmp}},
		{"CAP_DAC_READ_SEARCH", []probe{probeOpenByHandle}},
	}
	for _, tt := range tests {
		for _, with := range []bool{true, false} {
			caps := slices.Clone(spec.DefaultCapabilities)
			if with {
				caps = append(caps, tt.capability)
			}
			t.Run(fmt.Sprintf("%s %v", tt.capability, with), func(t *testing.T) {
				s := dockerProfile(t, caps)
				e := uint(marker)
				s.DefaultErrnoRet = &e
				r := runChild(t, childConfig{Program: mustCompile(t, s), Probes: tt.probes})
				if r.InstallError != "" {
					t.Fatal(r.InstallError)
				}
				for _, p := range tt.probes {
					got := r.Errnos[p.Name]
					refused := got == marker || (p.Nr == unix.SYS_CLONE3 && got == unix.ENOSYS)
					switch {
					case with && refused:
						t.Errorf("%s: %s; the filter should allow it", p.Name, errnoName(got))
					case !with && !refused:
						t.Errorf("%s: %s; the filter should refuse it", p.Name, errnoName(got))
					}
				}
			})
		}
	}
}

// TestInstallInitSequence installs the filter as crate-init does, with every
// capability, then drops them, switches to nobody and executes /bin/true, all
// under the filter.
func TestInstallInitSequence(t *testing.T) {
	testutil.RequireRoot(t)
	for name, caps := range testutil.CapabilitySets {
		t.Run(name, func(t *testing.T) {
			runChild(t, childConfig{Program: mustCompile(t, dockerProfile(t, caps)), InitSequence: true})
		})
	}
}

// TestInstallPrivilege checks who may install a filter: a thread with
// CAP_SYS_ADMIN, or one with no_new_privs.
func TestInstallPrivilege(t *testing.T) {
	testutil.RequireRoot(t)
	p := mustCompile(t, dockerProfile(t, spec.DefaultCapabilities))
	tests := []struct {
		name       string
		c          childConfig
		wantDenied bool
	}{
		{"CAP_SYS_ADMIN", childConfig{Program: p}, false},
		{"CAP_SYS_ADMIN and no_new_privs", childConfig{Program: p, NoNewPrivs: true}, false},
		{"no_new_privs only", childConfig{Program: p, NoNewPrivs: true, WithoutSysAdmin: true}, false},
		{"neither", childConfig{Program: p, WithoutSysAdmin: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.Probes = []probe{probeGetpid, probeKeyctl}
			r := runChild(t, tt.c)
			if tt.wantDenied {
				want := "permission denied (needs CAP_SYS_ADMIN or no_new_privs)"
				if !strings.Contains(r.InstallError, want) {
					t.Fatalf("Install: %q, want an error with %q", r.InstallError, want)
				}
				return
			}
			if r.InstallError != "" {
				t.Fatal(r.InstallError)
			}
			if r.Errnos["keyctl"] != unix.EPERM {
				t.Errorf("keyctl: %s under the filter, want EPERM", errnoName(r.Errnos["keyctl"]))
			}
		})
	}
}

// TestInstallChecksProgram gives Install a program it must refuse before
// any system call; a child runs it all the same, in case it did not.
func TestInstallChecksProgram(t *testing.T) {
	r := runChild(t, childConfig{Unchecked: []seccomp.Instruction{{Code: 0x20, K: 0}}}) // a load, and no return
	if want := "the last instruction is not a return"; !strings.Contains(r.InstallError, want) {
		t.Errorf("Install: %q, want an error with %q", r.InstallError, want)
	}
}
