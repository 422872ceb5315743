package spec

import (
	"strings"
	"testing"
)

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{"64", 64 << 20, ""},
		{"512K", 512 << 10, ""},
		{"512k", 512 << 10, ""},
		{"64M", 64 << 20, ""},
		{"64MiB", 64 << 20, ""},
		{"2G", 2 << 30, ""},
		{"2gb", 2 << 30, ""},
		{"0", 0, "must be more than 0"},
		{"-5", 0, "must be more than 0"},
		{"abc", 0, "not a size"},
		{"", 0, "not a size"},
		{"64T", 0, "not a size"},
		{"99999999999999G", 0, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMemory(tt.in)
			checkErr(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("ParseMemory(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseCPU(t *testing.T) {
	tests := []struct {
		in      string
		ncpu    int
		want    int64
		wantErr string
	}{
		{"50", 2, 50, ""},
		{"250", 4, 250, ""},
		{"200", 2, 200, ""},
		{"201", 2, 0, "out of range"},
		{"0", 2, 0, "out of range"},
		{"-1", 2, 0, "out of range"},
		{"abc", 2, 0, "not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCPU(tt.in, tt.ncpu)
			checkErr(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("ParseCPU(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParsePids(t *testing.T) {
	for in, want := range map[int64]int64{1: 1, 4096: 4096, -1: 0} {
		if got, err := ParsePids(in); err != nil || got != want {
			t.Errorf("ParsePids(%d) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []int64{0, -2} {
		if _, err := ParsePids(in); err == nil {
			t.Errorf("ParsePids(%d) = nil error", in)
		}
	}
}

func TestParseSecurityOpts(t *testing.T) {
	tests := []struct {
		in   []string
		want SecurityOpts
		err  string
	}{
		{in: nil, want: SecurityOpts{}},
		{in: []string{"no-new-privileges"}, want: SecurityOpts{NoNewPrivileges: true}},
		{in: []string{"no-new-privileges=true", "no-new-privileges=false"}, want: SecurityOpts{}},
		{in: []string{"seccomp=unconfined"}, want: SecurityOpts{Seccomp: "unconfined"}},
		{in: []string{"seccomp=/etc/p.json", "no-new-privileges"}, want: SecurityOpts{NoNewPrivileges: true, Seccomp: "/etc/p.json"}},
		{in: []string{"no-new-privileges=maybe"}, err: "=true or =false"},
		{in: []string{"seccomp"}, err: "seccomp=unconfined or"},
		{in: []string{"label=x"}, err: "unknown option"},
	}
	for _, tt := range tests {
		got, err := ParseSecurityOpts(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSecurityOpts(%q) = %v, want an error about %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSecurityOpts(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestValidHostname(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"box", true},
		{"web-1.example.org", true},
		{"a", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 63) + ".b", false}, // 65 characters
		{strings.Repeat("a", 64), false},        // label over 63
		{"", false},
		{"under_score", false},
		{"-lead", false},
		{"trail-", false},
		{"two..dots", false},
		{"sp ace", false},
	}
	for _, tt := range tests {
		if err := ValidHostname(tt.in); (err == nil) != tt.ok {
			t.Errorf("ValidHostname(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, name := range []string{"web", "a1b2c3d4e5f6", "my_app.v2-x"} {
		if err := ValidName(name); err != nil {
			t.Errorf("ValidName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", ".hidden", "a/b", "../x", "sp ace", strings.Repeat("x", 65)} {
		if err := ValidName(name); err == nil {
			t.Errorf("ValidName(%q) = nil, want an error", name)
		}
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want one containing %q", err, want)
	}
}

func TestParseUlimit(t *testing.T) {
	tests := []struct {
		in         string
		soft, hard uint64
		wantErr    string
	}{
		{"nofile=1024:4096", 1024, 4096, ""},
		{"nproc=50", 50, 50, ""},
		{"nofile=4096:1024", 0, 0, "soft limit is above"},
		{"files=10", 0, 0, "want NAME=SOFT[:HARD]"},
		{"nofile=lots", 0, 0, "want NAME=SOFT[:HARD]"},
	}
	for _, tt := range tests {
		got, err := ParseUlimit(tt.in)
		checkErr(t, err, tt.wantErr)
		if err == nil && (got.Soft != tt.soft || got.Hard != tt.hard) {
			t.Errorf("ParseUlimit(%q) = %+v", tt.in, got)
		}
	}
}

func TestParseSysctl(t *testing.T) {
	for _, ok := range []string{"net.ipv4.ip_forward=1", "kernel.shmmax=1000000", "fs.mqueue.msg_max=20"} {
		if _, _, err := ParseSysctl(ok); err != nil {
			t.Errorf("ParseSysctl(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"kernel.panic=1", "vm.swappiness=0", "net.../x=1", "nokey"} {
		if _, _, err := ParseSysctl(bad); err == nil {
			t.Errorf("ParseSysctl(%q) = nil error", bad)
		}
	}
}
