package main

import (
	"strings"
	"testing"

	"github.com/crate-run/crate/pkg/containerlog"
)

// TestLogOpts: --log-opt values as docker run's for the local driver: sizes with k, m, g
// (a bare number is bytes), a later value wins; an unknown key or a bad value is refused,
// saying which and what to give.
func TestLogOpts(t *testing.T) {
	def := containerlog.DefaultLimits
	for _, tt := range []struct {
		opts []string
		want containerlog.Limits
		err  string
	}{
		{nil, def, ""},
		{[]string{"max-size=10m"}, containerlog.Limits{MaxSize: 10 << 20, MaxFiles: def.MaxFiles}, ""},
		{[]string{"max-size=512k", "max-file=3"}, containerlog.Limits{MaxSize: 512 << 10, MaxFiles: 3}, ""},
		{[]string{"max-size=2G"}, containerlog.Limits{MaxSize: 2 << 30, MaxFiles: def.MaxFiles}, ""},
		{[]string{"max-size=4096"}, containerlog.Limits{MaxSize: 4096, MaxFiles: def.MaxFiles}, ""},
		{[]string{"max-file=1"}, containerlog.Limits{MaxSize: def.MaxSize, MaxFiles: 1}, ""},
		{[]string{"max-size=10m", "max-size=1m"}, containerlog.Limits{MaxSize: 1 << 20, MaxFiles: def.MaxFiles}, ""},
		{[]string{"max-size=100"}, def, "--log-opt max-size=100: must be at least 1k"},
		{[]string{"max-size=-1"}, def, "--log-opt max-size=-1: must be at least 1k"},
		{[]string{"max-size=ten"}, def, `--log-opt max-size=ten: not a size`},
		{[]string{"max-size="}, def, `--log-opt max-size=: not a size`},
		{[]string{"max-size=99999999999g"}, def, "--log-opt max-size=99999999999g: too large"},
		{[]string{"max-file=0"}, def, "--log-opt max-file=0: want a number of files, 1 or more"},
		{[]string{"max-file=two"}, def, "--log-opt max-file=two: want a number of files, 1 or more"},
		{[]string{"compress=false"}, def, "--log-opt compress=false: unknown option; crate knows max-size=SIZE and max-file=N"},
		{[]string{"max-size"}, def, `--log-opt "max-size": want KEY=VALUE`},
	} {
		got, err := logLimits(tt.opts)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("logLimits(%q) = %+v, %v; want %+v", tt.opts, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err) || strings.Contains(err.Error(), "\n")):
			t.Errorf("logLimits(%q) = %+v, %v; want one line starting %q", tt.opts, got, err, tt.err)
		}
	}
}
