package state

import (
	"os"
	"testing"
)

func TestProcStartTime(t *testing.T) {
	self, err := ProcStartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if self == 0 {
		t.Errorf("start time of this process is 0")
	}
	again, err := ProcStartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if again != self {
		t.Errorf("start time changed from %d to %d", self, again)
	}
	// PID 1 started before this test did.
	if first, err := ProcStartTime(1); err == nil && first > self {
		t.Errorf("PID 1 started at %d, after this process (%d)", first, self)
	}
	if _, err := ProcStartTime(-1); err == nil {
		t.Errorf("ProcStartTime(-1) succeeded")
	}
}
