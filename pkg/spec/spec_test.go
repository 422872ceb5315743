package spec

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestEnvDefaultsAndOverrides(t *testing.T) {
	image := []string{"PATH=/opt/bin:/bin", "LANG=C.UTF-8", "FOO=image"}
	got := Env("box", "/root", image, []string{"HOME=/home/app", "FOO=bar", "FOO=baz"})
	want := []string{"PATH=/opt/bin:/bin", "HOSTNAME=box", "HOME=/home/app", "LANG=C.UTF-8", "FOO=baz"}
	if !slices.Equal(got, want) {
		t.Errorf("Env = %q, want %q", got, want)
	}
	// Another user than root: no default HOME, init takes it from passwd.
	got = Env("box", "", image)
	want = []string{"PATH=/opt/bin:/bin", "HOSTNAME=box", "LANG=C.UTF-8", "FOO=image"}
	if !slices.Equal(got, want) {
		t.Errorf("Env without a home = %q, want %q", got, want)
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
	if s.Hostname != "abc" || s.Process.Cwd != "/" || NoPivot(s) || Init(s) {
		t.Errorf("defaults: hostname %q cwd %q nopivot %v init %v", s.Hostname, s.Process.Cwd, NoPivot(s), Init(s))
	}
}

func TestNewAnnotations(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want func(*specs.Spec) bool
	}{
		{"--no-pivot", Options{NoPivot: true}, NoPivot},
		{"--init", Options{Init: true}, Init},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.ID = "abc"
			if !tt.want(New(tt.o)) {
				t.Errorf("New(%+v): annotation missing from %v", tt.o, New(tt.o).Annotations)
			}
		})
	}
}

func TestNewNoLimits(t *testing.T) {
	r := New(Options{ID: "abc"}).Linux.Resources
	if r.Memory != nil || r.CPU != nil || r.Pids != nil {
		t.Errorf("resources without flags = %+v, want none", r)
	}
}

func TestOverlayRootIsTheFirstMount(t *testing.T) {
	s := New(Options{ID: "abc", Rootfs: "/c/rootfs", Args: []string{"sh"},
		Overlay: &Overlay{Lower: []string{"/l/base", "/l/top"}, Upper: "/c/upper", Work: "/c/work"}})
	m := s.Mounts[0]
	if !IsRootMount(m) || m.Type != "overlay" {
		t.Fatalf("first mount %+v, want the overlay root", m)
	}
	want := []string{"lowerdir=/l/top:/l/base", "upperdir=/c/upper", "workdir=/c/work"}
	if !slices.Equal(m.Options, want) {
		t.Errorf("overlay options %q, want %q (top layer first)", m.Options, want)
	}
	s = New(Options{ID: "abc", Overlay: &Overlay{Lower: []string{"/l"}, Upper: "/u", Work: "/w", Volatile: true}})
	if got := s.Mounts[0].Options; got[len(got)-1] != "volatile" {
		t.Errorf("volatile overlay options %q, want volatile last", got)
	}
	if IsRootMount(New(Options{ID: "abc"}).Mounts[0]) {
		t.Error("a plain root got an overlay mount")
	}
}

func TestApplyImage(t *testing.T) {
	img := ImageDefaults{Entrypoint: []string{"/entry", "-x"}, Cmd: []string{"serve"}, Env: []string{"A=1"}, WorkingDir: "/app", User: "app"}
	none := ""
	other := "/bin/sh"
	tests := []struct {
		name       string
		img        ImageDefaults
		entrypoint *string
		args       []string
		want       []string
	}{
		{"image defaults", img, nil, nil, []string{"/entry", "-x", "serve"}},
		{"arguments replace Cmd", img, nil, []string{"check"}, []string{"/entry", "-x", "check"}},
		{"--entrypoint drops Cmd", img, &other, nil, []string{"/bin/sh"}},
		{"--entrypoint with arguments", img, &other, []string{"-c", "id"}, []string{"/bin/sh", "-c", "id"}},
		{"--entrypoint '' and a command", img, &none, []string{"ls"}, []string{"ls"}},
		{"no entrypoint, Cmd only", ImageDefaults{Cmd: []string{"/bin/sh"}}, nil, nil, []string{"/bin/sh"}},
		{"rootfs archive, command given", ImageDefaults{}, nil, []string{"true"}, []string{"true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Options
			if err := ApplyImage(&o, tt.img, tt.entrypoint, tt.args); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.Args, tt.want) {
				t.Errorf("args %q, want %q", o.Args, tt.want)
			}
		})
	}
	o := Options{Cwd: "/mine", User: "1000"}
	if err := ApplyImage(&o, img, nil, nil); err != nil || o.Cwd != "/mine" || o.User != "1000" || !slices.Equal(o.ImageEnv, img.Env) {
		t.Errorf("flags over image: %+v, %v", o, err)
	}
	if err := ApplyImage(&Options{}, ImageDefaults{}, nil, nil); err == nil || !strings.Contains(err.Error(), "missing COMMAND") {
		t.Errorf("no command anywhere: %v", err)
	}
}

func TestCapabilitySet(t *testing.T) {
	tests := []struct {
		name       string
		add, drop  []string
		privileged bool
		want       []string
		wantErr    string
	}{
		{"default", nil, nil, false, DefaultCapabilities, ""},
		{"drop one, add one", []string{"net_admin"}, []string{"CAP_NET_RAW"}, false,
			append(slices.DeleteFunc(slices.Clone(DefaultCapabilities), func(c string) bool { return c == "CAP_NET_RAW" }), "CAP_NET_ADMIN"), ""},
		{"drop all", nil, []string{"ALL"}, false, nil, ""},
		{"drop all, add one", []string{"CHOWN"}, []string{"all"}, false, []string{"CAP_CHOWN"}, ""},
		{"add all", []string{"ALL"}, nil, false, Capabilities, ""},
		{"privileged", nil, []string{"ALL"}, true, Capabilities, ""},
		{"unknown", []string{"FLY"}, nil, false, nil, "no such capability"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CapabilitySet(tt.add, tt.drop, tt.privileged)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("CapabilitySet = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if n := CapabilityNumber("CAP_SYS_ADMIN"); n != 21 {
		t.Errorf("CAP_SYS_ADMIN is %d, want 21", n)
	}
}
