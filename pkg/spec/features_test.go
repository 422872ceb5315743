package spec

import (
	"encoding/json"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestFeaturesJSON: the fields engines read are present, under the names
// they read them by.
func TestFeaturesJSON(t *testing.T) {
	data, err := json.Marshal(Features())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OCIVersionMin string   `json:"ociVersionMin"`
		OCIVersionMax string   `json:"ociVersionMax"`
		Hooks         []string `json:"hooks"`
		MountOptions  []string `json:"mountOptions"`
		Linux         struct {
			Namespaces []string `json:"namespaces"`
			Cgroup     struct {
				V1      *bool `json:"v1"`
				V2      *bool `json:"v2"`
				Systemd *bool `json:"systemd"`
			} `json:"cgroup"`
			MountExtensions struct {
				IDMap struct {
					Enabled *bool `json:"enabled"`
				} `json:"idmap"`
			} `json:"mountExtensions"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OCIVersionMin != "1.0.0" || doc.OCIVersionMax == "" {
		t.Errorf("versions = %q to %q", doc.OCIVersionMin, doc.OCIVersionMax)
	}
	if !slices.Equal(doc.Hooks, []string{"prestart", "createRuntime", "poststart", "poststop"}) {
		t.Errorf("hooks = %v", doc.Hooks)
	}
	for _, o := range []string{"ro", "rbind", "nosuid"} {
		if !slices.Contains(doc.MountOptions, o) {
			t.Errorf("mountOptions %v lack %s", doc.MountOptions, o)
		}
	}
	if !slices.Contains(doc.Linux.Namespaces, "mount") || slices.Contains(doc.Linux.Namespaces, "user") {
		t.Errorf("namespaces = %v", doc.Linux.Namespaces)
	}
	c := doc.Linux.Cgroup
	if c.V1 == nil || !*c.V1 || c.V2 == nil || !*c.V2 || c.Systemd == nil || *c.Systemd {
		t.Errorf("cgroup = %s", data)
	}
	if e := doc.Linux.MountExtensions.IDMap.Enabled; e == nil || *e {
		t.Errorf("idmap mounts are not false: %s", data)
	}
}

// TestFeaturesMatchLoadBundle: what Features announces, ParseConfig
// accepts, and the versions at both ends are accepted.
func TestFeaturesMatchLoadBundle(t *testing.T) {
	f := Features()
	for _, v := range []string{f.OCIVersionMin, f.OCIVersionMax} {
		s := validSpec()
		s.Version = v
		if _, err := parse(t, s); err != nil {
			t.Errorf("version %s: %v", v, err)
		}
	}
	s := validSpec()
	s.Linux.Namespaces = nil
	for _, n := range f.Linux.Namespaces {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.LinuxNamespaceType(n)})
	}
	if _, err := parse(t, s); err != nil {
		t.Errorf("every namespace of Features: %v", err)
	}
}
