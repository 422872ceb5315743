package spec

import (
	"encoding/json"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestNewStatePid(t *testing.T) {
	tests := []struct {
		status specs.ContainerState
		want   int
	}{
		{specs.StateCreating, 42}, // the prestart and createRuntime hooks find the namespaces by it
		{specs.StateCreated, 42},
		{specs.StateRunning, 42},
		{specs.StateStopped, 0},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			st := NewState("c1", tt.status, 42, "/b", nil)
			if st.Pid != tt.want || st.Version != specs.Version || st.ID != "c1" || st.Bundle != "/b" {
				t.Errorf("NewState = %+v, want pid %d", st, tt.want)
			}
		})
	}
}

// TestNewStateOwnsAnnotations: the state keeps its own copy, so a caller
// changing the spec's map later does not change a state already built.
func TestNewStateOwnsAnnotations(t *testing.T) {
	a := map[string]string{"k": "v"}
	st := NewState("c1", specs.StateCreated, 1, "/b", a)
	a["k"] = "changed"
	if st.Annotations["k"] != "v" {
		t.Errorf("annotations = %v", st.Annotations)
	}
}

// TestStateOutputJSON: the JSON has runc's field names and forms.
func TestStateOutputJSON(t *testing.T) {
	created := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*3600))
	st := NewState("c1", specs.StateStopped, 42, "/run/b", map[string]string{"k": "v"})
	data, err := json.Marshal(NewStateOutput(st, "/run/b/rootfs", created, ""))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ociVersion":"` + specs.Version + `","id":"c1","pid":0,"status":"stopped","bundle":"/run/b",` +
		`"rootfs":"/run/b/rootfs","created":"2024-05-06T05:08:09.123456789Z","annotations":{"k":"v"},"owner":""}`
	if string(data) != want {
		t.Errorf("got  %s\nwant %s", data, want)
	}
}
