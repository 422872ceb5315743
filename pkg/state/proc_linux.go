package state

import (
	"fmt"
	"os"
	"strconv"
)

// ProcStartTime returns when process pid started, in clock ticks since boot
// (field 22 of /proc/PID/stat). Recorded next to a PID, it tells the process
// we started from a later one that reused its PID.
func ProcStartTime(pid int) (uint64, error) {
	file := "/proc/" + strconv.Itoa(pid) + "/stat"
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("read start time: %w", err)
	}
	t, err := parseStartTime(data)
	if err != nil {
		return 0, fmt.Errorf("read start time: %s: %w", file, err)
	}
	return t, nil
}
