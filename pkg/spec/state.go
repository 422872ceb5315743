package spec

import (
	"maps"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// NewState is a container's state as the runtime spec defines it: what the
// OCI state command prints (inside StateOutput) and what hooks read on their
// stdin. pid is the host PID of the container's process; the spec wants it
// while the container is created or running, and the hooks that run while
// it is creating need it to find its namespaces; it is dropped once it has
// stopped.
func NewState(id string, status specs.ContainerState, pid int, bundle string, annotations map[string]string) specs.State {
	if status != specs.StateCreating && status != specs.StateCreated && status != specs.StateRunning {
		pid = 0
	}
	return specs.State{
		Version:     specs.Version,
		ID:          id,
		Status:      status,
		Pid:         pid,
		Bundle:      bundle,
		Annotations: maps.Clone(annotations),
	}
}

// StateOutput is what the OCI state command prints: the runtime spec's state
// and the fields runc adds to it, which engines that drive runc read
// (containerd's go-runc decodes rootfs and created). The field names and
// their JSON are runc's; pid is printed even when 0, as runc prints it.
type StateOutput struct {
	Version     string               `json:"ociVersion"`
	ID          string               `json:"id"`
	Pid         int                  `json:"pid"`
	Status      specs.ContainerState `json:"status"`
	Bundle      string               `json:"bundle"`
	Rootfs      string               `json:"rootfs"`
	Created     time.Time            `json:"created"` // RFC 3339 with nanoseconds, UTC
	Annotations map[string]string    `json:"annotations,omitempty"`
	Owner       string               `json:"owner"`
}

// NewStateOutput extends st with the root filesystem's absolute path, the
// time the container was created, and its owner's user name ("" where runc
// prints "" too: for a container of the user running the command).
func NewStateOutput(st specs.State, rootfs string, created time.Time, owner string) StateOutput {
	return StateOutput{
		Version:     st.Version,
		ID:          st.ID,
		Pid:         st.Pid,
		Status:      st.Status,
		Bundle:      st.Bundle,
		Rootfs:      rootfs,
		Created:     created.UTC().Round(0),
		Annotations: st.Annotations,
		Owner:       owner,
	}
}
