package spec

import (
	"slices"
	"testing"
)

func TestEnvDefaultsAndOverrides(t *testing.T) {
	got := Env([]string{"HOME=/home/app", "FOO=bar", "FOO=baz"}, "box")
	want := []string{"PATH=" + DefaultPath, "HOSTNAME=box", "HOME=/home/app", "FOO=baz"}
	if !slices.Equal(got, want) {
		t.Errorf("Env = %q, want %q", got, want)
	}
}

func TestNewLimits(t *testing.T) {
	s := New(Options{ID: "abc", Rootfs: "/r", Args: []string{"sh"}, MemoryBytes: 64 << 20, CPUPercent: 250, Pids: 10})
	r := s.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.Memory.Swap != 64<<20 {
		t.Errorf("memory = %d swap %d", *r.Memory.Limit, *r.Memory.Swap)
	}
	if *r.CPU.Quota != 250000 || *r.CPU.Period != 100000 {
		t.Errorf("cpu = %d/%d, want 250000/100000", *r.CPU.Quota, *r.CPU.Period)
	}
	if *r.Pids.Limit != 10 {
		t.Errorf("pids = %d", *r.Pids.Limit)
	}
	if s.Hostname != "abc" || s.Process.Cwd != "/" || NoPivot(s) {
		t.Errorf("defaults: hostname %q cwd %q nopivot %v", s.Hostname, s.Process.Cwd, NoPivot(s))
	}
}

func TestNewNoLimits(t *testing.T) {
	r := New(Options{ID: "abc"}).Linux.Resources
	if r.Memory != nil || r.CPU != nil || r.Pids != nil {
		t.Errorf("resources without flags = %+v, want none", r)
	}
}
