package hostcheck

import (
	"slices"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	data := []byte(`27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 master:2 - cgroup cgroup rw,memory
50 27 0:40 / /mnt/with\040space rw - tmpfs tmpfs rw
`)
	mounts, err := parseMountinfo(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []mount{
		{point: "/", fsType: "ext4", source: "/dev/vda", super: []string{"rw", "discard"}},
		{point: "/sys/fs/cgroup/memory", fsType: "cgroup", source: "cgroup", super: []string{"rw", "memory"}},
		{point: "/mnt/with space", fsType: "tmpfs", source: "tmpfs", super: []string{"rw"}},
	}
	if !slices.EqualFunc(mounts, want, func(a, b mount) bool {
		return a.point == b.point && a.fsType == b.fsType && a.source == b.source && slices.Equal(a.super, b.super)
	}) {
		t.Errorf("parseMountinfo = %+v, want %+v", mounts, want)
	}
	if _, err := parseMountinfo([]byte("27 1 254:0 / / rw ext4\n")); err == nil {
		t.Error("a line without the - separator parsed")
	}
}

func TestMountFor(t *testing.T) {
	mounts := []mount{
		{point: "/", fsType: "ext4"},
		{point: "/var", fsType: "xfs"},
		{point: "/var/lib/crate", fsType: "tmpfs"},
		{point: "/var/lib/crate", fsType: "overlay"}, // mounted over the tmpfs
		{point: "/var/lib/cr", fsType: "btrfs"},      // a prefix of the string, not of the path
	}
	tests := []struct{ path, want string }{
		{"/", "ext4"},
		{"/etc", "ext4"},
		{"/var/log", "xfs"},
		{"/var/lib/crate", "overlay"},
		{"/var/lib/crate/layers", "overlay"},
		{"/var/lib/crater", "xfs"},
	}
	for _, tt := range tests {
		if got := mountFor(mounts, tt.path); got == nil || got.fsType != tt.want {
			t.Errorf("mountFor(%q) = %+v, want %s", tt.path, got, tt.want)
		}
	}
}
