package spec

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crate-run/crate/pkg/seccomp"
)

// Everything New can put in a spec reaches init, but for what init leaves to
// others: the cgroup resources (crate's) and the namespaces' paths (crate
// opens them); the seccomp profile arrives as the filter compiled from it.
// A field New starts to fill that WriteInit does not carry fails here.
func TestInitSpecCarriesWhatInitActsOn(t *testing.T) {
	limit := uint64(1024)
	null, err := ParseDevice("/dev/null:/dev/nothing:r")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Devices: []Device{null},
		ID:      "abc", Rootfs: "/r", Args: []string{"sh", "-c", "true"},
		ImageEnv: []string{"A=1"}, Env: []string{"B=2"}, User: "nobody:nogroup", Cwd: "/tmp",
		Hostname: "box", MemoryBytes: 1 << 26, CPUPercent: 50, Pids: 10, NoPivot: true, Init: true,
		Capabilities: []string{"CAP_CHOWN"}, NoNewPrivileges: true, ReadOnly: true,
		Tmpfs:   []string{"/run:size=1m"},
		Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: limit, Hard: limit}},
		Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
		Seccomp: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno},
		Overlay: &Overlay{Lower: []string{"/l1", "/l2"}, Upper: "/u", Work: "/w", Volatile: true},
	}
	for _, privileged := range []bool{false, true} {
		o.Privileged = privileged
		s := New(o)
		var buf bytes.Buffer
		filter := seccomp.Program{{Code: 0x06, K: 0x7fff0000}} // return ALLOW
		join := []Join{{Type: specs.NetworkNamespace, Fd: 6}}
		if err := WriteInit(&buf, &InitInput{Spec: s, Filter: filter, Join: join, StartFd: 7, Console: true}); err != nil {
			t.Fatal(err)
		}
		in, err := ReadInit(&buf)
		if err != nil {
			t.Fatal(err)
		}
		got := in.Spec
		if !reflect.DeepEqual(in.Filter, filter) {
			t.Errorf("filter %v, want %v", in.Filter, filter)
		}
		if !reflect.DeepEqual(in.Join, join) || in.StartFd != 7 || !in.Console {
			t.Errorf("join %v, start fd %d, console %v; want %v, 7, true", in.Join, in.StartFd, in.Console, join)
		}
		want := *s
		linux := *s.Linux
		linux.Resources, linux.Seccomp = nil, nil
		want.Linux = &linux
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("privileged=%v: init got\n%+v\nwant\n%+v", privileged, got, &want)
		}
	}
}

func TestReadInitRefusesIncompleteSpecs(t *testing.T) {
	for _, in := range []string{
		``,
		`{`,
		`{"ociVersion":"1.3.0"}`,
		`{"process":{"args":["sh"]},"root":{"path":"/r"}}`,
		`{"process":{"args":[]},"root":{"path":"/r"},"linux":{}}`,
	} {
		if _, err := ReadInit(strings.NewReader(in)); err == nil {
			t.Errorf("ReadInit(%q) = nil error", in)
		}
	}
}
