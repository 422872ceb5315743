package initproc

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestExitCode(t *testing.T) {
	// Wait statuses as the kernel encodes them: the exit status in the
	// second byte, or the signal in the low seven bits (0x80: core dumped).
	tests := []struct {
		name string
		ws   unix.WaitStatus
		want int
	}{
		{"exit 0", 0, 0},
		{"exit 3", 3 << 8, 3},
		{"exit 255", 255 << 8, 255},
		{"SIGTERM", unix.WaitStatus(unix.SIGTERM), 143},
		{"SIGKILL", unix.WaitStatus(unix.SIGKILL), 137},
		{"SIGQUIT with a core dump", unix.WaitStatus(unix.SIGQUIT) | 0x80, 131},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.ws); got != tt.want {
				t.Errorf("exitCode(%#x) = %d, want %d", uint32(tt.ws), got, tt.want)
			}
		})
	}
}
