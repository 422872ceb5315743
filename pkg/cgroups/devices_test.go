package cgroups

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/crate-run/crate/pkg/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// dev is a rule in the terms of the tests: dev("c", 1, 3, "rw"), -1 for any
// number.
func dev(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
	if major != -1 {
		r.Major = &major
	}
	if minor != -1 {
		r.Minor = &minor
	}
	return r
}

// denyAll is the rule the OCI form of a list starts with.
var denyAll = specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}

// TestDefaultDeviceRules checks that the list crate applies (spec's,
// Docker's in the OCI form) is one this package accepts, and what it writes.
func TestDefaultDeviceRules(t *testing.T) {
	rules := spec.DefaultDeviceRules()
	if err := validateDevices(rules); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rules[0], denyAll) {
		t.Fatalf("first rule %+v, want deny everything", rules[0])
	}
	var got []string
	for _, r := range rules[1:] {
		got = append(got, formatDevice(r))
	}
	want := []string{
		"c *:* m", "b *:* m", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
		"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultDeviceRules =\n%q\nwant\n%q", got, want)
	}
	// A caller that changes its copy does not change the next one.
	*rules[3].Minor = 99
	if *spec.DefaultDeviceRules()[3].Minor != 1 {
		t.Error("DefaultDeviceRules shares its numbers between calls")
	}
}

func TestValidateDevices(t *testing.T) {
	tests := []struct {
		name    string
		rules   []specs.LinuxDeviceCgroup
		wantErr string // "" for valid
	}{
		{"nil", nil, ""},
		{"empty: deny everything", []specs.LinuxDeviceCgroup{}, ""},
		{"OCI form", []specs.LinuxDeviceCgroup{denyAll, dev("c", 1, 3, "rwm")}, ""},
		{"allow everything", []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}, ""},
		{"type a spelled out", []specs.LinuxDeviceCgroup{dev("a", -1, -1, "mrw")}, ""},
		{"largest numbers", []specs.LinuxDeviceCgroup{dev("b", 4095, 1048575, "r")}, ""},
		{"bad type", []specs.LinuxDeviceCgroup{dev("p", 1, 3, "r")},
			`invalid device rule 0 (p 1:3 r): type "p"`},
		{"no access", []specs.LinuxDeviceCgroup{dev("c", 1, 3, "")},
			`access "": want some of r, w and m`},
		{"bad access", []specs.LinuxDeviceCgroup{dev("c", 1, 3, "rx")}, `access "rx"`},
		{"repeated access", []specs.LinuxDeviceCgroup{dev("c", 1, 3, "rr")}, `access "rr"`},
		{"negative major", []specs.LinuxDeviceCgroup{dev("c", -2, 3, "r")}, "major -2: want -1 (any) or 0 to 4095"},
		{"minor too large", []specs.LinuxDeviceCgroup{dev("c", 1, 1<<20, "r")}, "minor 1048576"},
		{"type a with numbers", []specs.LinuxDeviceCgroup{dev("a", 1, 3, "rwm")}, "type a must be for any major and minor"},
		{"type a, part of the access", []specs.LinuxDeviceCgroup{dev("", -1, -1, "m")}, "type a must be for any major and minor and allow rwm"},
		{"deny one device", []specs.LinuxDeviceCgroup{denyAll, {Allow: false, Type: "c", Access: "rwm"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(&specs.LinuxResources{Devices: tt.rules})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestV1DeviceWrites(t *testing.T) {
	deny := write{file: "devices.deny", value: "a"}
	allow := func(v string) write { return write{file: "devices.allow", value: v} }
	tests := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		want  []write
	}{
		{"empty: deny everything", []specs.LinuxDeviceCgroup{}, []write{deny}},
		{"wildcards", []specs.LinuxDeviceCgroup{dev("c", -1, -1, "m"), dev("c", 136, -1, "rwm"), dev("b", 8, 0, "r")},
			[]write{deny, allow("c *:* m"), allow("c 136:* rwm"), allow("b 8:0 r")}},
		{"-1 and nil are both any", []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: new(int64(-1)), Access: "rw"}},
			[]write{deny, allow("c *:* rw")}},
		{"OCI form: the deny-all is the first write", []specs.LinuxDeviceCgroup{denyAll, dev("c", 1, 3, "rwm")},
			[]write{deny, allow("c 1:3 rwm")}},
		{"a deny-all takes back the rules before it", []specs.LinuxDeviceCgroup{dev("c", 1, 5, "r"), denyAll, dev("c", 1, 3, "r")},
			[]write{deny, allow("c 1:3 r")}},
		{"allow everything", []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}},
			[]write{deny, allow("a *:* rwm")}},
		// Docker's /dev/fuse: no allow rule has its numbers, so it takes
		// nothing away, as in v1's kernel.
		{"a deny of one device leaves wider rules", []specs.LinuxDeviceCgroup{denyAll, dev("c", -1, -1, "m"),
			{Allow: false, Type: "c", Major: new(int64(10)), Minor: new(int64(229)), Access: "rwm"}},
			[]write{deny, allow("c *:* m")}},
		{"a deny takes its access from the same device", []specs.LinuxDeviceCgroup{denyAll, dev("c", 1, 3, "rwm"),
			dev("c", 1, 5, "rw"), {Allow: false, Type: "c", Major: new(int64(1)), Minor: new(int64(3)), Access: "w"},
			{Allow: false, Type: "c", Major: new(int64(1)), Minor: new(int64(5)), Access: "rw"}},
			[]write{deny, allow("c 1:3 rm")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v1Writes(&specs.LinuxResources{Devices: tt.rules})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got["devices"], tt.want) {
				t.Errorf("devices writes = %v, want %v", got["devices"], tt.want)
			}
		})
	}
	if ws, _ := v1Writes(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](5)}}); ws["devices"] != nil {
		t.Errorf("no device rules, but writes %v", ws["devices"])
	}
}

// TestV1EmptyDeviceList: an empty, non-nil list denies every device, so it
// needs the devices hierarchy; nil needs nothing.
func TestV1EmptyDeviceList(t *testing.T) {
	ws, err := v1Writes(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{}})
	if err != nil || !reflect.DeepEqual(strs(ws["devices"]), []string{"devices.deny=a"}) {
		t.Errorf("v1Writes(empty list) = %v, %v; want devices.deny=a", ws, err)
	}
	err = checkV1Controllers(ws, map[string]string{"memory": "/m"})
	var me *MissingControllerError
	if !errors.As(err, &me) || me.Controller != "devices" || me.Resource != "devices" {
		t.Errorf("checkV1Controllers = %v, want devices missing", err)
	}
}
