package hostcheck

import (
	"errors"
	"testing"
)

func TestCheckKernel(t *testing.T) {
	tests := []struct {
		release string
		want    Status
	}{
		{"6.18.44-fc-v657", OK},
		{"5.12.0", OK},
		{"5.11.22-generic", Missing},   // no mount_setattr
		{"5.10.0-28-amd64", Missing},   // no mount_setattr
		{"5.4.0-150-generic", Missing}, // no openat2
		{"4.19.0-27-amd64", Missing},
		{"banana", Warn},
	}
	for _, tt := range tests {
		if r := checkKernel(tt.release, nil); r.Status != tt.want {
			t.Errorf("checkKernel(%q) = %+v, want %s", tt.release, r, tt.want)
		}
		if r := checkKernel(tt.release, nil); r.Status != OK && r.Fix == "" {
			t.Errorf("checkKernel(%q): %s without a fix", tt.release, r.Status)
		}
	}
	if r := checkKernel("", errors.New("open /proc/sys/kernel/osrelease: no such file")); r.Status != Warn {
		t.Errorf("unreadable release: %+v, want WARN", r)
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536 << 20, "1.5 GiB"},
		{80 << 40, "80.0 TiB"},
	}
	for _, tt := range tests {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestHasFilesystem(t *testing.T) {
	list := []byte("nodev\tsysfs\nnodev\tcgroup2\n\text4\nnodev\toverlay\n")
	for name, want := range map[string]bool{"overlay": true, "ext4": true, "cgroup": false, "xfs": false} {
		if got := hasFilesystem(list, name); got != want {
			t.Errorf("hasFilesystem(%q) = %v, want %v", name, got, want)
		}
	}
}
