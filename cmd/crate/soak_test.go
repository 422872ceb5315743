package main

// The soak test: many containers, with faults injected at random moments,
// while other crate commands run in loops beside them; at the end nothing of
// crate's may be left, the image store must be whole, and a plain run must
// work. `make soak` runs a thousand containers (CRATE_SOAK=1000); make test
// runs a short form of it, on the host and in the v2 VM.

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crate-run/crate/pkg/testutil"
)

// soakRuns is how many containers the soak test starts: CRATE_SOAK, or a
// short form for make test.
func soakRuns(t *testing.T) int {
	if v := os.Getenv("CRATE_SOAK"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CRATE_SOAK=%q: want a number of containers", v)
		}
		return n
	}
	return 60
}

// soak is one soak test's world.
type soak struct {
	t   *testing.T
	e   *env
	img string // imported as "soak"

	mu      sync.Mutex
	names   []string               // every container started
	results map[string]map[int]int // fault kind -> exit code -> runs
}

// record counts one run of a fault kind ending with code.
func (s *soak) record(kind string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.results[kind] == nil {
		s.results[kind] = map[int]int{}
	}
	s.results[kind][code]++
}

// name returns a new container name, remembered for the final checks.
func (s *soak) name() string {
	n := newName()
	s.mu.Lock()
	s.names = append(s.names, n)
	s.mu.Unlock()
	return n
}

// wait waits for a crate command and returns its exit code (-1 for a
// signal, as os/exec says).
func wait(cmd *exec.Cmd) int {
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -2
	}
	return 0
}

// start starts a crate command, its output thrown away.
func (s *soak) start(args ...string) *exec.Cmd {
	cmd := s.e.command(args...)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	return cmd
}

// jitter waits a random moment of up to max: when a fault strikes, not
// what the test waits for.
func jitter(rnd *mrand.Rand, max time.Duration) {
	time.Sleep(time.Duration(rnd.Int64N(int64(max))))
}

// soakFaults are the kinds of run, each with what it does to its container.
// Every exit code is acceptable: what counts is what is left at the end.
var soakFaults = []struct {
	kind string
	run  func(s *soak, rnd *mrand.Rand) int
}{
	{"none", func(s *soak, rnd *mrand.Rand) int {
		cmd := s.e.command("run", "--name", s.name(), "soak", "true")
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			s.t.Logf("soak: a plain run exited %d: %s", code, out)
			return code
		}
		return 0
	}},
	{"SIGKILL to the supervisor", func(s *soak, rnd *mrand.Rand) int {
		cmd := s.start("run", "--name", s.name(), "soak", "sleep", "1000")
		jitter(rnd, 200*time.Millisecond)
		cmd.Process.Kill()
		return wait(cmd)
	}},
	{"SIGKILL to crate-init before exec", func(s *soak, rnd *mrand.Rand) int {
		cmd := s.start("run", "--name", s.name(), "--cpu", "1", "soak", "true")
		killInitBeforeExec(cmd.Process.Pid)
		return wait(cmd)
	}},
	{"SIGKILL to the command", func(s *soak, rnd *mrand.Rand) int {
		name := s.name()
		if code := wait(s.start("run", "-d", "--name", name, "soak", "sleep", "1000")); code != 0 {
			return code
		}
		jitter(rnd, 100*time.Millisecond)
		wait(s.start("kill", name))
		waited := s.e.command("wait", name)
		out, _ := waited.Output()
		wait(s.start("rm", name))
		code, err := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil {
			return waited.ProcessState.ExitCode()
		}
		return code
	}},
	{"SIGTERM to crate", func(s *soak, rnd *mrand.Rand) int {
		cmd := s.start("run", "--name", s.name(), "--stop-timeout", "1s", "soak", "sleep", "1000")
		jitter(rnd, 200*time.Millisecond)
		cmd.Process.Signal(syscall.SIGTERM)
		return wait(cmd)
	}},
	{"SIGINT to crate", func(s *soak, rnd *mrand.Rand) int {
		cmd := s.start("run", "--name", s.name(), "--stop-timeout", "1s", "soak", "sleep", "1000")
		jitter(rnd, 200*time.Millisecond)
		cmd.Process.Signal(syscall.SIGINT)
		return wait(cmd)
	}},
	{"EMFILE (prlimit --nofile)", func(s *soak, rnd *mrand.Rand) int {
		// Below 8, Go's runtime itself cannot start (its poller needs
		// descriptors): a fatal error, exit 2, before crate runs a line.
		n := 8 + rnd.IntN(40)
		cmd := s.e.command("run", "--name", s.name(), "soak", "true")
		cmd.Args = append([]string{"prlimit", fmt.Sprintf("--nofile=%d:%d", n, n), "--"}, cmd.Args...)
		cmd.Path = prlimit
		if err := cmd.Start(); err != nil {
			s.t.Fatal(err)
		}
		return wait(cmd)
	}},
}

// prlimit runs a command with a resource limit (util-linux).
var prlimit = "/usr/bin/prlimit"

// killInitBeforeExec SIGKILLs the crate-init crate (pid) starts, if it
// finds it before it has executed the command.
func killInitBeforeExec(pid int) {
	for {
		children := childrenOf(pid)
		if children == nil {
			return // crate has exited
		}
		for _, child := range children {
			switch command(child) {
			case "", crateBin:
				continue
			case "crate-init":
				syscall.Kill(child, syscall.SIGKILL)
			}
			return
		}
	}
}

// TestSoak starts soakRuns containers from four workers, each with a fault
// chosen at random, while loops run crate ps, crate rm -f, crate gc and
// crate image prune beside them; now and then twenty starts of an image
// not yet imported at once, and an import into a full file system. It
// prints, for each fault kind, how many runs ended with which exit code,
// and fails on anything left: a cgroup, a mount, a container directory, a
// run directory entry, a process; on a store that is not whole; on a plain
// run that fails.
func TestSoak(t *testing.T) {
	e := newEnv(t)
	prlimit = testutil.RequireTool(t, "prlimit", "util-linux")
	runs := soakRuns(t)
	s := &soak{t: t, e: e, img: busyboxImage(t), results: map[string]map[int]int{}}
	e.ok("image", "import", s.img, "--name", "soak")

	stop := make(chan struct{})
	var loops sync.WaitGroup
	for _, args := range [][]string{{"ps", "-a"}, {"gc"}, {"image", "prune"}, nil} {
		loops.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				a := args
				if a == nil { // rm -f of a container started a moment ago
					s.mu.Lock()
					if len(s.names) == 0 {
						s.mu.Unlock()
						continue
					}
					a = []string{"rm", "-f", s.names[len(s.names)-1]}
					s.mu.Unlock()
				}
				code := wait(s.start(a...))
				s.record("loop: crate "+strings.Join(a[:1], " "), code)
			}
		})
	}

	var workers sync.WaitGroup
	work := make(chan int)
	for w := range 4 {
		workers.Go(func() {
			rnd := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for i := range work {
				switch {
				case i%97 == 50:
					s.parallelFirstRuns(20)
				case i%41 == 20:
					s.fullFileSystem()
				default:
					f := soakFaults[rnd.IntN(len(soakFaults))]
					s.record(f.kind, f.run(s, rnd))
				}
			}
		})
	}
	for i := range runs {
		work <- i
	}
	close(work)
	workers.Wait()
	close(stop)
	loops.Wait()

	kinds := slices.Sorted(func(yield func(string) bool) {
		for k := range s.results {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range kinds {
		total := 0
		for _, n := range s.results[k] {
			total += n
		}
		t.Logf("soak: %-36s %5d, exit codes %v", k, total, s.results[k])
	}

	// One command, which collects what the killed supervisors left; then
	// nothing of any container may be there.
	e.ok("ps", "-a")
	for _, n := range s.names {
		e.noLeftovers(n)
	}
	s.noCrateProcesses()
	verifyStore(t, e.root)
	if out := e.runOK("soak", "echo", "still works"); out != "still works\n" {
		t.Errorf("a plain run after the soak printed %q", out)
	}
}

// parallelFirstRuns starts n containers at once from an image file that is
// not imported yet: one import, n containers, all of which must run.
func (s *soak) parallelFirstRuns(n int) {
	mark := make([]byte, 8)
	rand.Read(mark)
	img := rootfsImage(s.t, busyboxFiles(s.t, testutil.File{Name: "mark", Mode: 0o644, Body: mark}))
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			code := wait(s.start("run", "--name", s.name(), img, "true"))
			s.record("20 first runs of one image at once", code)
			if code != 0 {
				s.t.Errorf("a first run of a new image, %d at once, exited %d", n, code)
			}
		})
	}
	wg.Wait()
}

// fullFileSystem imports an image too big for a small file system of its
// own as the state root: refused, the store left whole, and a good image
// imports and runs there afterwards.
func (s *soak) fullFileSystem() {
	t := s.t
	root := t.TempDir()
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "size=24m"); err != nil {
		t.Fatalf("mount a small tmpfs: %v", err)
	}
	defer unix.Unmount(root, unix.MNT_DETACH)
	big := make([]byte, 32<<20) // random, so that compression cannot shrink it
	rand.Read(big)
	img := rootfsImage(t, busyboxFiles(t, testutil.File{Name: "big", Mode: 0o644, Body: big}))
	cmd := exec.Command(crateBin, "--data-root", root, "--root", filepath.Join(root, "run"), "--log-file", s.e.logFile,
		"run", img, "true")
	cmd.Env = append(os.Environ(), "CRATE_INIT="+initBin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		code = -2
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
	}
	s.record("import into a full file system", code)
	if code != exitCrateFailed || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
		t.Errorf("import into a full file system: exit %d, stderr %q; want 125 and one line", code, stderr.String())
	}
	verifyStore(t, root)
	good := exec.Command(crateBin, "--data-root", root, "--root", filepath.Join(root, "run"), "--log-file", s.e.logFile,
		"run", s.img, "echo", "fine")
	good.Env = cmd.Env
	if out, err := good.CombinedOutput(); err != nil || string(out) != "fine\n" {
		t.Errorf("a good image after a full file system: %v, %q", err, out)
	}
}

// noCrateProcesses fails the test for any process left with the soak's
// state root on its command line, or in a cgroup of the soak's containers.
func (s *soak) noCrateProcesses() {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		s.t.Fatal(err)
	}
	names := map[string]bool{}
	for _, n := range s.names {
		names["crate-"+n] = true
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if bytes.Contains(cmdline, []byte(s.e.root)) {
			s.t.Errorf("process %d is left: %q", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
		cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		for _, line := range strings.Split(string(cg), "\n") {
			if i := strings.LastIndex(line, "/"); i >= 0 && names[line[i+1:]] {
				s.t.Errorf("process %d is left in %s: %q", pid, line, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
			}
		}
	}
}

// verifyStore checks the image store under root on disk: every image
// record names layers that are there, each unpacked under the digest its
// metadata records, and nothing is left half-made.
func verifyStore(t *testing.T, root string) {
	t.Helper()
	layers := filepath.Join(root, "layers", "sha256")
	if tmp, _ := os.ReadDir(filepath.Join(root, "layers", "tmp")); len(tmp) > 0 {
		t.Errorf("store %s: %d entries left in layers/tmp", root, len(tmp))
	}
	entries, _ := os.ReadDir(layers)
	for _, e := range entries {
		hex, isMeta := strings.CutSuffix(e.Name(), ".json")
		if !isMeta {
			if _, err := os.Stat(filepath.Join(layers, e.Name()+".json")); err != nil {
				t.Errorf("store %s: layer %s has no metadata: %v", root, e.Name(), err)
			}
			continue
		}
		var meta struct {
			DiffID string `json:"diff_id"`
		}
		if data, err := os.ReadFile(filepath.Join(layers, e.Name())); err != nil || json.Unmarshal(data, &meta) != nil || meta.DiffID != "sha256:"+hex {
			t.Errorf("store %s: layer metadata %s: %v, diff_id %q", root, e.Name(), err, meta.DiffID)
		}
	}
	records, _ := filepath.Glob(filepath.Join(root, "images", "*.json"))
	for _, r := range records {
		var img struct {
			Layers []string `json:"layers"`
		}
		data, err := os.ReadFile(r)
		if err != nil || json.Unmarshal(data, &img) != nil {
			t.Errorf("store %s: image record %s unreadable: %v", root, r, err)
			continue
		}
		for _, l := range img.Layers {
			if _, err := os.Stat(filepath.Join(layers, strings.TrimPrefix(l, "sha256:"))); err != nil {
				t.Errorf("store %s: image %s lacks layer %s: %v", root, filepath.Base(r), l, err)
			}
		}
	}
}
