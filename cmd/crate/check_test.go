package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCheck runs crate check on the test host, v1 hybrid or pure v2: every
// host the tests run on can run containers, so nothing may be MISSING.
func TestCheck(t *testing.T) {
	e := newEnv(t)
	r := e.crate("check")
	if r.code != 0 {
		t.Fatalf("crate check: exit %d, want 0\nstdout:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		// "cgroup mode        OK        v1 (hybrid)": the status is the first
		// OK, WARN or MISSING word, after a name of one or two words.
		status := ""
		for _, f := range strings.Fields(line) {
			if f == "OK" || f == "WARN" || f == "MISSING" {
				status = f
				break
			}
		}
		if status != "OK" && status != "WARN" {
			t.Errorf("line %q: status %q, want OK or WARN", line, status)
		}
		names[strings.TrimSpace(line[:strings.Index(line, status)])] = true
	}
	for _, want := range []string{"root", "kernel", "namespace pid", "cgroup mode", "cgroup pids", "overlayfs", "seccomp", "crate-init", "state root"} {
		if !names[want] {
			t.Errorf("no %q line in:\n%s", want, r.stdout)
		}
	}
}

func TestCheckJSON(t *testing.T) {
	e := newEnv(t)
	r := e.crate("check", "--format", "json")
	if r.code != 0 {
		t.Fatalf("crate check --format json: exit %d, want 0\nstdout:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var results []struct{ Name, Status, Detail, Fix string }
	if err := json.Unmarshal([]byte(r.stdout), &results); err != nil {
		t.Fatalf("output is not a JSON array of checks: %v\n%s", err, r.stdout)
	}
	if len(results) == 0 {
		t.Fatal("no checks")
	}
	for _, c := range results {
		if c.Name == "" || (c.Status != "OK" && c.Status != "WARN") {
			t.Errorf("check %+v: want a name and OK or WARN", c)
		}
		if c.Status == "WARN" && c.Fix == "" {
			t.Errorf("check %+v: WARN without a fix", c)
		}
	}
}

// TestCheckMissingInit: a host where crate-init cannot be found is not
// ready, and says so with exit 1, not crate's own failure code.
func TestCheckMissingInit(t *testing.T) {
	e := newEnv(t)
	cmd := e.command("check")
	cmd.Env = append(cmd.Env, "CRATE_INIT=/no/such/crate-init")
	r := e.finish(cmd, "")
	if r.code != 1 {
		t.Fatalf("crate check without crate-init: exit %d, want 1\n%s", r.code, r.stdout)
	}
	if !strings.Contains(r.stdout, "MISSING") || !strings.Contains(r.stdout, "crate-init") {
		t.Errorf("no MISSING crate-init line in:\n%s", r.stdout)
	}
}
