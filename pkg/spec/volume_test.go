package spec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseVolume(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "app.conf")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		value   string
		want    specs.Mount // when wantErr is ""
		wantErr string
	}{
		{value: dir + ":/data",
			want: specs.Mount{Type: "bind", Source: dir, Destination: "/data", Options: []string{"rbind", "rprivate", "rw"}}},
		{value: dir + ":/data:ro",
			want: specs.Mount{Type: "bind", Source: dir, Destination: "/data", Options: []string{"rbind", "rprivate", "ro"}}},
		{value: dir + "/./:/srv/../data/:rw",
			want: specs.Mount{Type: "bind", Source: dir, Destination: "/data", Options: []string{"rbind", "rprivate", "rw"}}},
		{value: file + ":/etc/app.conf:ro",
			want: specs.Mount{Type: "bind", Source: file, Destination: "/etc/app.conf", Options: []string{"rbind", "rprivate", "ro"}}},

		{value: "data:/data", wantErr: `--volume "data:/data": host path data must be absolute`},
		{value: dir + "/nope:/data", wantErr: "host path " + dir + "/nope does not exist"},
		{value: dir + ":data", wantErr: "container path data must be absolute"},
		{value: dir + ":/", wantErr: "container path must not be /"},
		{value: dir + ":/x/..", wantErr: "container path must not be /"},
		{value: dir + ":/data:rx", wantErr: `mode "rx" not known; use ro or rw`},
		{value: dir + ":/data:", wantErr: `mode "" not known; use ro or rw`},
		{value: dir, wantErr: "want HOST:CONTAINER[:ro|rw]"},
		{value: ":/data", wantErr: "want HOST:CONTAINER[:ro|rw]"},
		{value: dir + ":", wantErr: "want HOST:CONTAINER[:ro|rw]"},
		{value: dir + ":/data:ro:z", wantErr: "want HOST:CONTAINER[:ro|rw]"},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.value, dir, "HOST"), func(t *testing.T) {
			got, err := ParseVolume(tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseVolume(%q) = %+v, %v; want an error containing %q", tt.value, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseVolume(%q): %v", tt.value, err)
			}
			if got.Type != tt.want.Type || got.Source != tt.want.Source || got.Destination != tt.want.Destination ||
				!slices.Equal(got.Options, tt.want.Options) {
				t.Errorf("ParseVolume(%q) = %+v, want %+v", tt.value, got, tt.want)
			}
			if !IsBindMount(got) {
				t.Errorf("IsBindMount(%+v) = false", got)
			}
		})
	}
}

func TestIsBindMount(t *testing.T) {
	tests := []struct {
		m    specs.Mount
		want bool
	}{
		{specs.Mount{Type: "bind", Destination: "/a"}, true},
		{specs.Mount{Type: "none", Destination: "/a", Options: []string{"rbind", "ro"}}, true},
		{specs.Mount{Destination: "/a", Options: []string{"bind"}}, true},
		{specs.Mount{Type: "tmpfs", Destination: "/tmp", Options: []string{"nosuid"}}, false},
		{DefaultMounts()[0], false},
	}
	for _, tt := range tests {
		if got := IsBindMount(tt.m); got != tt.want {
			t.Errorf("IsBindMount(%+v) = %v, want %v", tt.m, got, tt.want)
		}
	}
}
