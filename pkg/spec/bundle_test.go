package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const testBundle = "/run/bundles/c1"

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "bundle", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestParseEngineConfigs: what containerd, podman and Docker send is read
// whole, and the root is made absolute.
func TestParseEngineConfigs(t *testing.T) {
	tests := []struct {
		file     string
		rootPath string
		check    func(t *testing.T, s *specs.Spec)
	}{
		{"containerd-ctr.json", testBundle + "/rootfs", func(t *testing.T, s *specs.Spec) {
			if got := s.Linux.CgroupsPath; got != "/default/hello" {
				t.Errorf("cgroupsPath = %q", got)
			}
			if !s.Process.NoNewPrivileges || s.Process.Rlimits[0].Hard != 1024 {
				t.Errorf("process = %+v", s.Process)
			}
		}},
		{"podman.json", "/var/lib/containers/storage/overlay/0f1e2d3c/merged", func(t *testing.T, s *specs.Spec) {
			if u := s.Process.User; u.Umask == nil || *u.Umask != 0o22 {
				t.Errorf("umask = %v", u.Umask)
			}
			if got := s.Linux.Namespaces[1].Path; got != "/run/netns/netns-1d2c3b4a" {
				t.Errorf("network namespace path = %q", got)
			}
			if s.Linux.Seccomp == nil || *s.Linux.Seccomp.DefaultErrnoRet != 38 {
				t.Errorf("seccomp = %+v", s.Linux.Seccomp)
			}
		}},
		{"docker.json", "/var/lib/docker/overlay2/9c8b7a6f/merged", func(t *testing.T, s *specs.Spec) {
			// prestart is deprecated, but Docker 20.10 sends it
			if len(s.Hooks.Prestart) != 1 || s.Hooks.Prestart[0].Args[0] != "libnetwork-setkey" {
				t.Errorf("hooks = %+v", s.Hooks)
			}
			if s.Hostname != "3f4e5d6c7b8a" {
				t.Errorf("hostname = %q", s.Hostname)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := ParseConfig(fixture(t, tt.file), testBundle)
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if s.Root.Path != tt.rootPath {
				t.Errorf("root.path = %q, want %q", s.Root.Path, tt.rootPath)
			}
			tt.check(t, s)
		})
	}
}

// TestParseBadFiles: documents that are not one well-typed JSON object.
func TestParseBadFiles(t *testing.T) {
	tests := []struct {
		file  string
		field string
		want  string
	}{
		{"bad-truncated.json", "", "cut short"},
		{"bad-trailing.json", "", "more data after"},
		{"bad-type.json", "process.user.uid", "want uint32, found JSON string"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := ParseConfig(fixture(t, tt.file), testBundle)
			var invalid *InvalidError
			if !errors.As(err, &invalid) {
				t.Fatalf("err = %v, want *InvalidError", err)
			}
			if invalid.Field != tt.field || !strings.Contains(invalid.Reason, tt.want) {
				t.Errorf("err = %#v, want field %q and reason with %q", invalid, tt.field, tt.want)
			}
		})
	}
	for _, doc := range []string{"", "null", "[]", "{} x"} {
		if _, err := ParseConfig([]byte(doc), testBundle); !errors.As(err, new(*InvalidError)) {
			t.Errorf("ParseConfig(%q) = %v, want *InvalidError", doc, err)
		}
	}
}

// validSpec is the smallest config crate runs.
func validSpec() *specs.Spec {
	return &specs.Spec{
		Version: "1.0.2",
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/", Env: []string{"PATH=/bin"}},
		Linux:   &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.UTSNamespace}}},
	}
}

func parse(t *testing.T, s *specs.Spec) (*specs.Spec, error) {
	t.Helper()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return ParseConfig(data, testBundle)
}

func ptr[T any](v T) *T { return &v }

// TestParseRefuses: each change to a valid config is refused with the
// error kind and field named.
func TestParseRefuses(t *testing.T) {
	type kind int
	const (
		invalid kind = iota
		unsupported
	)
	tests := []struct {
		name   string
		change func(s *specs.Spec)
		kind   kind
		field  string
	}{
		{"no version", func(s *specs.Spec) { s.Version = "" }, invalid, "ociVersion"},
		{"version not semver", func(s *specs.Spec) { s.Version = "1.0" }, invalid, "ociVersion"},
		{"version leading zero", func(s *specs.Spec) { s.Version = "1.01.0" }, invalid, "ociVersion"},
		{"version 0.x", func(s *specs.Spec) { s.Version = "0.5.0-dev" }, unsupported, "ociVersion"},
		{"version 1.0.0 rc", func(s *specs.Spec) { s.Version = "1.0.0-rc2-dev" }, unsupported, "ociVersion"},
		{"version 1.4", func(s *specs.Spec) { s.Version = "1.4.0" }, unsupported, "ociVersion"},
		{"version 2", func(s *specs.Spec) { s.Version = "2.0.0" }, unsupported, "ociVersion"},
		{"no root", func(s *specs.Spec) { s.Root = nil }, invalid, "root.path"},
		{"no process", func(s *specs.Spec) { s.Process = nil }, invalid, "process"},
		{"no args", func(s *specs.Spec) { s.Process.Args = nil }, invalid, "process.args"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "srv" }, invalid, "process.cwd"},
		{"env without =", func(s *specs.Spec) { s.Process.Env = []string{"A=1", "B"} }, invalid, "process.env[1]"},
		{"unknown rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILES", Soft: 1, Hard: 1}}
		}, invalid, "process.rlimits[0].type"},
		{"rlimit twice", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1, Hard: 1}, {Type: "RLIMIT_NOFILE", Soft: 2, Hard: 2}}
		}, invalid, "process.rlimits[1].type"},
		{"rlimit soft above hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2, Hard: 1}}
		}, invalid, "process.rlimits[0]"},
		{"apparmor", func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" }, unsupported, "process.apparmorProfile"},
		{"selinux process", func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" }, unsupported, "process.selinuxLabel"},
		{"selinux mount", func(s *specs.Spec) { s.Linux.MountLabel = "system_u:object_r:container_file_t:s0" }, unsupported, "linux.mountLabel"},
		{"io priority", func(s *specs.Spec) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE}
		}, unsupported, "process.ioPriority"},
		{"scheduler", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch} }, unsupported, "process.scheduler"},
		{"exec cpu affinity", func(s *specs.Spec) {
			s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0"}
		}, unsupported, "process.execCPUAffinity"},
		{"user namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, unsupported, "linux.namespaces[2].type"},
		{"time namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		}, unsupported, "linux.namespaces[2].type"},
		{"unknown namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "net"})
		}, invalid, "linux.namespaces[2].type"},
		{"namespace twice", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UTSNamespace})
		}, invalid, "linux.namespaces[2].type"},
		{"relative namespace path", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "run/netns/x"})
		}, invalid, "linux.namespaces[2].path"},
		{"no mount namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.UTSNamespace}}
		}, unsupported, "linux.namespaces"},
		{"no linux", func(s *specs.Spec) { s.Linux = nil }, unsupported, "linux"},
		{"hostname without uts", func(s *specs.Spec) {
			s.Hostname = "box"
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
		}, invalid, "hostname"},
		{"uid mappings", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}
		}, unsupported, "linux.uidMappings"},
		{"gid mappings", func(s *specs.Spec) {
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}
		}, unsupported, "linux.gidMappings"},
		{"intel rdt", func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "c1"} }, unsupported, "linux.intelRdt"},
		{"personality 32", func(s *specs.Spec) {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
		}, unsupported, "linux.personality"},
		{"seccomp listener", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock"}
		}, unsupported, "linux.seccomp.listenerPath"},
		{"propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "rshare" }, invalid, "linux.rootfsPropagation"},
		{"mount at root", func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "/", Type: "tmpfs", Source: "tmpfs"}}
		}, unsupported, "mounts[0].destination"},
		{"mount without destination", func(s *specs.Spec) { s.Mounts = []specs.Mount{{Type: "tmpfs"}} }, invalid, "mounts[0].destination"},
		{"idmap mount", func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "/data", Type: "bind", Source: "/srv", Options: []string{"rbind", "idmap"}}}
		}, unsupported, "mounts[0].options"},
		{"relative hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true"}, {Path: "bin/true"}}}
		}, invalid, "hooks.poststop[1].path"},
		{"hook timeout 0", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true", Timeout: ptr(0)}}}
		}, invalid, "hooks.createRuntime[0].timeout"},
		{"createContainer hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}}
		}, unsupported, "hooks.createContainer"},
		{"startContainer hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}}
		}, unsupported, "hooks.startContainer"},
		{"fifo device", func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/p", Type: "p"}} }, unsupported, "linux.devices[0].type"},
		{"device type", func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "x"}} }, invalid, "linux.devices[0].type"},
		{"relative device", func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "dev/x", Type: "c"}} }, invalid, "linux.devices[0].path"},
		{"relative masked path", func(s *specs.Spec) { s.Linux.MaskedPaths = []string{"proc/kcore"} }, invalid, "linux.maskedPaths[0]"},
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "0"} }, unsupported, "linux.sysctl.vm.swappiness"},
		{"net sysctl on host network", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, unsupported, "linux.sysctl.net.ipv4.ip_forward"},
		{"internal annotation", func(s *specs.Spec) {
			s.Annotations = map[string]string{AnnotationExec: "true"}
		}, unsupported, "annotations." + AnnotationExec},
		{"windows section", func(s *specs.Spec) { s.Windows = &specs.Windows{} }, unsupported, "windows"},
		{"vm section", func(s *specs.Spec) { s.VM = &specs.VM{} }, unsupported, "vm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			tt.change(s)
			_, err := parse(t, s)
			var field string
			var inv *InvalidError
			var uns *UnsupportedError
			switch {
			case tt.kind == invalid && errors.As(err, &inv):
				field = inv.Field
			case tt.kind == unsupported && errors.As(err, &uns):
				field = uns.Field
			default:
				t.Fatalf("err = %v, want the other kind", err)
			}
			if field != tt.field {
				t.Errorf("field = %q, want %q (err: %v)", field, tt.field, err)
			}
		})
	}
}

// TestParseAccepts: values crate honours, some normalised.
func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *specs.Spec)
		check  func(t *testing.T, s *specs.Spec)
	}{
		{"containerd 1.7 version", func(s *specs.Spec) { s.Version = "1.1.0-rc.1" }, nil},
		{"docker 20.10 version", func(s *specs.Spec) { s.Version = "1.0.2-dev" }, nil},
		{"version with build", func(s *specs.Spec) { s.Version = "1.3.0+dev.1" }, nil},
		{"newest patch", func(s *specs.Spec) { s.Version = "1.3.9" }, nil},
		{"relative destination", func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "data/../srv", Type: "tmpfs", Source: "tmpfs"}}
		}, func(t *testing.T, s *specs.Spec) {
			if got := s.Mounts[0].Destination; got != "/srv" {
				t.Errorf("destination = %q, want /srv", got)
			}
		}},
		{"absolute root", func(s *specs.Spec) { s.Root.Path = "/var/lib/x/../rootfs/" }, func(t *testing.T, s *specs.Spec) {
			if s.Root.Path != "/var/lib/rootfs" {
				t.Errorf("root.path = %q", s.Root.Path)
			}
		}},
		{"joined namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/run/netns/x"})
			s.Linux.Sysctl = map[string]string{"net.core.somaxconn": "1024", "kernel.shmmax": "1"}
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.IPCNamespace})
		}, nil},
		{"default personality", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux} }, nil},
		{"every propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "rslave" }, nil},
		{"unknown capability kept", func(s *specs.Spec) {
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_FUTURE"}}
		}, func(t *testing.T, s *specs.Spec) {
			if s.Process.Capabilities.Bounding[0] != "CAP_FUTURE" {
				t.Errorf("capabilities = %+v", s.Process.Capabilities)
			}
		}},
		{"user-facing crate annotations", func(s *specs.Spec) {
			s.Annotations = map[string]string{AnnotationNoPivot: "true", AnnotationInit: "true"}
		}, nil},
		{"hooks crate runs", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{
				CreateRuntime: []specs.Hook{{Path: "/usr/bin/netns-setup", Timeout: ptr(5)}},
				Poststart:     []specs.Hook{{Path: "/bin/true"}},
				Poststop:      []specs.Hook{{Path: "/bin/true"}},
			}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			tt.change(s)
			got, err := parse(t, s)
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

// TestParseReportsAll: one attempt names every problem.
func TestParseReportsAll(t *testing.T) {
	s := validSpec()
	s.Process.Cwd = "srv"
	s.Process.ApparmorProfile = "docker-default"
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	_, err := parse(t, s)
	for _, want := range []string{"process.cwd", "process.apparmorProfile", "linux.namespaces[2].type"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
