package state

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// startTimeField is the 1-based number of starttime in /proc/PID/stat.
const startTimeField = 22

// parseStartTime returns field 22 (starttime, in clock ticks since boot) of
// the contents of a /proc/PID/stat file. Field 2 is "(comm)", and comm is
// chosen by the process: it may hold spaces and ')' itself. The kernel
// writes nothing after comm that can hold ')', so the fields are counted
// from the last ')'.
func parseStartTime(stat []byte) (uint64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("parse stat: no \")\" after comm")
	}
	// After ") " come fields 3, 4, ...
	fields := bytes.Fields(stat[end+1:])
	i := startTimeField - 3
	if len(fields) <= i {
		return 0, fmt.Errorf("parse stat: %d fields after comm, want at least %d", len(fields), i+1)
	}
	v, err := strconv.ParseUint(string(fields[i]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse stat: starttime: %w", err)
	}
	return v, nil
}
