package state

import (
	"strings"
	"testing"
)

// statLine builds a /proc/PID/stat line whose comm is comm and whose field
// 22 is start.
func statLine(comm, start string) string {
	return "4242 (" + comm + ") S" + strings.Repeat(" 1", 18) + " " + start + " 1048576 300\n"
}

func TestParseStartTime(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    uint64
		wantErr bool
	}{
		{name: "plain comm", stat: statLine("sleep", "987654"), want: 987654},
		{name: "comm with spaces", stat: statLine("my worker 2", "12"), want: 12},
		{name: "comm with parens", stat: statLine("a) S 1 2 (b", "777"), want: 777},
		{name: "comm that is only a paren", stat: statLine(")", "5"), want: 5},
		{name: "no closing paren", stat: "4242 sleep S 1 2 3", wantErr: true},
		{name: "too few fields", stat: "4242 (sleep) S 1 2 3\n", wantErr: true},
		{name: "start time not a number", stat: statLine("sleep", "soon"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStartTime([]byte(tt.stat))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseStartTime = %d, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("parseStartTime = %d, want %d", got, tt.want)
			}
		})
	}
}
