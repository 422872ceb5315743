package spec

import (
	"strings"
	"testing"
)

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in     string
		path   string
		access string
		err    string // part of the error; "" for none
	}{
		{in: "/dev/null", path: "/dev/null", access: "rwm"},
		{in: "/dev/null:/dev/nothing", path: "/dev/nothing", access: "rwm"},
		{in: "/dev/null:r", path: "/dev/null", access: "r"},
		{in: "/dev/null:/dev/x:rw", path: "/dev/x", access: "rw"},
		{in: "/dev/null:/dev/x:rwx", err: "permissions"},
		{in: "/dev/null:/dev/x:rr", err: "permissions"},
		{in: "/dev/null:/etc/x", err: "under /dev/"},
		{in: "/dev/null:/dev", err: "under /dev/"},
		{in: "dev/null", err: "absolute"},
		{in: "/dev/null:/dev/a:r:w", err: "HOST[:CONTAINER][:PERMISSIONS]"},
		{in: "/dev/crate-no-such-device", err: "no such file"},
		{in: "/etc/hostname:/dev/x", err: "not a character or block device"},
	}
	for _, tt := range tests {
		d, err := ParseDevice(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseDevice(%q) = %v, want an error about %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDevice(%q): %v", tt.in, err)
			continue
		}
		n, r := d.Node, d.Rule
		if n.Path != tt.path || n.Type != "c" || n.Major != 1 || n.Minor != 3 {
			t.Errorf("ParseDevice(%q) node = %s %s %d:%d, want %s c 1:3", tt.in, n.Path, n.Type, n.Major, n.Minor, tt.path)
		}
		if !r.Allow || r.Type != "c" || *r.Major != 1 || *r.Minor != 3 || r.Access != tt.access {
			t.Errorf("ParseDevice(%q) rule = %+v, want allow c 1:3 %s", tt.in, r, tt.access)
		}
	}
}

func TestDeviceRules(t *testing.T) {
	fuse, err := ParseDevice("/dev/null:/dev/fuse:rw")
	if err != nil {
		t.Fatal(err)
	}
	rules := New(Options{ID: "a", Devices: []Device{fuse}}).Linux.Resources.Devices
	if first := rules[0]; first.Allow || first.Type != "" || first.Access != "rwm" {
		t.Errorf("first rule = %+v, want deny all", first)
	}
	for _, r := range rules[1:] {
		wildcard := r.Major == nil || r.Minor == nil
		if !r.Allow || wildcard && r.Access != "m" && !(r.Type == "c" && *r.Major == 136) {
			t.Errorf("rule %+v: only mknod may be allowed for any device (pts aside)", r)
		}
	}
	if last := rules[len(rules)-1]; last.Access != "rw" || *last.Major != 1 || *last.Minor != 3 {
		t.Errorf("last rule = %+v, want the --device's", last)
	}
	nodes := New(Options{ID: "a", Devices: []Device{fuse}}).Linux.Devices
	if last := nodes[len(nodes)-1]; last.Path != "/dev/fuse" {
		t.Errorf("last node = %s, want /dev/fuse", last.Path)
	}
	all := New(Options{ID: "a", Privileged: true}).Linux.Resources.Devices
	if len(all) != 1 || !all[0].Allow || all[0].Type != "" || all[0].Access != "rwm" {
		t.Errorf("privileged rules = %+v, want allow all", all)
	}
}
