package initproc

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestLastCapability: the kernel's last capability, asked of the kernel, is
// the one /proc says (the test's own /proc, which nothing has forged).
func TestLastCapability(t *testing.T) {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Skip(err)
	}
	want, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := lastCapability(); err != nil || got != want {
		t.Errorf("lastCapability() = %d, %v; want %d", got, err, want)
	}
}
