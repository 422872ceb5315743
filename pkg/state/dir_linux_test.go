package state

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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
)

// supervisorEnv, when set to a run directory, makes the test binary act as a
// supervisor instead of running the tests: see fakeSupervisor.
const supervisorEnv = "CRATE_STATE_TEST_SUPERVISOR"

// supervisedID is the container the fake supervisor creates.
const supervisedID = "c0ffee"

func TestMain(m *testing.M) {
	if dir := os.Getenv(supervisorEnv); dir != "" {
		os.Exit(fakeSupervisor(dir))
	}
	os.Exit(m.Run())
}

// fakeSupervisor creates a running container as a supervisor does, says
// "ready" and holds the supervisor lock until stdin closes or it is killed.
func fakeSupervisor(dir string) int {
	h, err := Dir{Path: dir}.Create(&State{ID: supervisedID, Image: "busybox", Status: Running})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer h.Release()
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// startSupervisor runs fakeSupervisor in a child process and returns once it
// holds the lock.
func startSupervisor(t *testing.T, d Dir) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), supervisorEnv+"="+d.Path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("supervisor said %q (%v), want \"ready\"", line, err)
	}
	return cmd
}

// newDir returns a run directory that does not exist yet, as after a boot.
func newDir(t *testing.T) Dir {
	return Dir{Path: filepath.Join(t.TempDir(), "run")}
}

// create creates a container as its supervisor would, and releases the lock
// when the test ends.
func create(t *testing.T, d Dir, st State) *Handle {
	t.Helper()
	h, err := d.Create(&st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Release)
	return h
}

// entries lists the names in the run directory.
func entries(t *testing.T, d Dir) []string {
	t.Helper()
	des, err := os.ReadDir(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestCreate(t *testing.T) {
	d := newDir(t)
	create(t, d, State{ID: "abc", Image: "alpine", Command: []string{"sh"}})

	got, err := d.Get("abc")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != Created || got.Created.IsZero() || got.SupervisorPID != os.Getpid() {
		t.Errorf("defaults not filled in: %+v", got)
	}
	if fi, err := os.Stat(d.Path); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("run directory: %v, mode %v, want 0700", err, fi.Mode().Perm())
	}
	for _, name := range []string{"state.json", "state.lock", "supervisor.lock"} {
		if _, err := os.Stat(d.File("abc", name)); err != nil {
			t.Errorf("container directory: %v", err)
		}
	}
	if !d.Alive("abc") {
		t.Errorf("Alive = false while the handle holds the lock")
	}

	tests := []struct {
		name    string
		id      string
		wantErr error // nil: any error
	}{
		{name: "duplicate id", id: "abc", wantErr: ErrExists},
		{name: "empty id", id: ""},
		{name: "path traversal", id: "../abc"},
		{name: "hidden name", id: ".new-abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := d.Create(&State{ID: tt.id})
			if err == nil {
				h.Release()
				t.Fatalf("Create(%q) succeeded", tt.id)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Create(%q) = %v, want %v", tt.id, err, tt.wantErr)
			}
		})
	}
	// No half-made directory is left behind.
	if got := entries(t, d); !slices.Equal(got, []string{"abc"}) {
		t.Errorf("run directory holds %q, want only abc", got)
	}
}

// TestUpdateConcurrent: the supervisor's updates, from several goroutines
// (the start's record and the exit's), are never lost, and readers, who
// take no lock, never see a partly written file.
func TestUpdateConcurrent(t *testing.T) {
	d := newDir(t)
	h := create(t, d, State{ID: "abc", Status: Running})

	const writers, each = 20, 5
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				err := h.Update(func(st *State) {
					st.Command = append(st.Command, strconv.Itoa(w*each+i))
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			st, err := d.Get("abc")
			if err != nil || st.Status != Running {
				t.Errorf("Get while writing = %+v, %v", st, err)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-readerDone

	st, err := d.Get("abc")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Command) != writers*each {
		t.Errorf("%d updates kept, want %d", len(st.Command), writers*each)
	}
	leftovers, _ := filepath.Glob(d.File("abc", "state.json.tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %q", leftovers)
	}
}

func TestHandleUpdateAndRemove(t *testing.T) {
	d := newDir(t)
	h := create(t, d, State{ID: "abc"})

	if err := h.Update(func(st *State) { st.Status = Running; st.InitPID = 42 }); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Get("abc"); err != nil || got.Status != Running || got.InitPID != 42 {
		t.Errorf("Get = %+v, %v", got, err)
	}

	if err := h.Remove(); err != nil {
		t.Fatal(err)
	}
	if entries(t, d) != nil {
		t.Errorf("run directory holds %q after Remove", entries(t, d))
	}
	if _, err := d.Get("abc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove = %v, want ErrNotFound", err)
	}
	if err := h.Update(func(*State) {}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update after Remove = %v, want ErrNotFound", err)
	}
	if err := d.WaitSupervisor(context.Background(), "abc"); err != nil {
		t.Errorf("WaitSupervisor after Remove = %v, want nil", err)
	}
	h.Release()
	h.Release() // idempotent
}

func TestStaleMarking(t *testing.T) {
	tests := []struct {
		written    Status
		alive      bool
		wantStatus Status
		wantReason string
	}{
		{written: Created, alive: true, wantStatus: Created},
		{written: Running, alive: true, wantStatus: Running},
		{written: Created, alive: false, wantStatus: Exited, wantReason: ReasonSupervisorDied},
		{written: Running, alive: false, wantStatus: Exited, wantReason: ReasonSupervisorDied},
		{written: Exited, alive: false, wantStatus: Exited},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s alive=%v", tt.written, tt.alive), func(t *testing.T) {
			d := newDir(t)
			h := create(t, d, State{ID: "abc", Status: tt.written})
			if !tt.alive {
				h.Release()
			}
			got, err := d.Get("abc")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.wantStatus || got.Reason != tt.wantReason {
				t.Errorf("Get = %s %q, want %s %q", got.Status, got.Reason, tt.wantStatus, tt.wantReason)
			}
			// The file is left for gc.
			if st, _ := readState(filepath.Join(d.Path, "abc")); st.Status != tt.written {
				t.Errorf("state.json changed to %s", st.Status)
			}
		})
	}
}

func TestSupervisorKilled(t *testing.T) {
	d := newDir(t)
	sup := startSupervisor(t, d)

	st, err := d.Get(supervisedID)
	if err != nil || st.Status != Running || st.SupervisorPID != sup.Process.Pid {
		t.Fatalf("Get = %+v, %v; want running under PID %d", st, err, sup.Process.Pid)
	}
	if !d.Alive(supervisedID) {
		t.Errorf("Alive = false while the supervisor runs")
	}
	if _, err := d.Reap(supervisedID); !errors.Is(err, ErrAlive) {
		t.Errorf("Reap of a live container = %v, want ErrAlive", err)
	}

	if err := sup.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = sup.Wait()

	all, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Status != Exited || all[0].Reason != ReasonSupervisorDied {
		t.Fatalf("List = %+v, want one exited with %q", all, ReasonSupervisorDied)
	}
	unlock, err := d.Reap(supervisedID)
	if err != nil {
		t.Fatalf("Reap after the supervisor died: %v", err)
	}
	if err := d.RemoveDir(supervisedID); err != nil {
		t.Fatal(err)
	}
	unlock()
	if all, err := d.List(); err != nil || len(all) != 0 {
		t.Errorf("List after reaping = %+v, %v; want nothing", all, err)
	}
}

func TestReap(t *testing.T) {
	d := newDir(t)
	create(t, d, State{ID: "abc"}).Release()

	// A shared probe (ps calling Alive) must not make a dead container look
	// alive: Reap waits for it instead.
	probe, err := os.Open(d.File("abc", "supervisor.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(probe.Fd()), unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	type result struct {
		unlock func()
		err    error
	}
	reaped := make(chan result)
	go func() {
		unlock, err := d.Reap("abc")
		reaped <- result{unlock, err}
	}()
	probe.Close()
	r := <-reaped
	if r.err != nil {
		t.Fatalf("Reap while probed = %v", r.err)
	}

	// While one reaper holds the lock, another is refused.
	if _, err := d.Reap("abc"); !errors.Is(err, ErrAlive) {
		t.Errorf("second Reap = %v, want ErrAlive", err)
	}
	if !d.Alive("abc") {
		t.Errorf("Alive = false while a reaper holds the lock")
	}
	if err := d.RemoveDir("abc"); err != nil {
		t.Fatal(err)
	}
	r.unlock()
	r.unlock() // idempotent
	if _, err := d.Reap("abc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Reap after removal = %v, want ErrNotFound", err)
	}
}

func TestLookup(t *testing.T) {
	d := newDir(t)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, st := range []State{
		{ID: "abc123"},
		{ID: "abd456"},
		{ID: "ffff00", Name: "web"},
		{ID: "999999", Name: "ab"}, // a name beats an ambiguous prefix
	} {
		st.Created = base.Add(time.Duration(i) * time.Second)
		create(t, d, st)
	}

	tests := []struct {
		ref     string
		want    string // id
		wantErr error
		errText string
	}{
		{ref: "abc123", want: "abc123"},
		{ref: "web", want: "ffff00"},
		{ref: "abc", want: "abc123"},
		{ref: "ff", want: "ffff00"},
		{ref: "ab", want: "999999"},
		{ref: "a", wantErr: ErrAmbiguous, errText: "abc123, abd456"},
		{ref: "zzz", wantErr: ErrNotFound, errText: `no container "zzz"`},
		{ref: "../abc123", errText: "invalid"},
		{ref: ".new-abc123", errText: "invalid"},
		{ref: "", errText: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := d.Lookup(tt.ref)
			if tt.errText == "" {
				if err != nil || got.ID != tt.want {
					t.Errorf("Lookup(%q) = %s, %v; want %s", tt.ref, got.ID, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errText) {
				t.Fatalf("Lookup(%q) = %s, %v; want an error containing %q", tt.ref, got.ID, err, tt.errText)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Lookup(%q) = %v, want %v", tt.ref, err, tt.wantErr)
			}
		})
	}

	all, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, st := range all {
		ids = append(ids, st.ID)
	}
	if want := []string{"abc123", "abd456", "ffff00", "999999"}; !slices.Equal(ids, want) {
		t.Errorf("List order = %q, want %q (by creation)", ids, want)
	}
}

func TestUnreadableState(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(file string) error
	}{
		{name: "not json", spoil: func(f string) error { return os.WriteFile(f, []byte("{\"id\": "), 0o600) }},
		{name: "missing", spoil: os.Remove},
		{name: "other id", spoil: func(f string) error { return os.WriteFile(f, []byte(`{"id":"zzz"}`), 0o600) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDir(t)
			create(t, d, State{ID: "abc"})
			if err := tt.spoil(d.File("abc", "state.json")); err != nil {
				t.Fatal(err)
			}
			all, err := d.List()
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 1 || all[0].ID != "abc" || all[0].Status != Exited ||
				!strings.HasPrefix(all[0].Reason, "state.json unreadable: ") {
				t.Errorf("List = %+v, want abc reported as unreadable", all)
			}
		})
	}
}

func TestWaitSupervisor(t *testing.T) {
	d := newDir(t)
	h := create(t, d, State{ID: "abc"})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.WaitSupervisor(ctx, "abc"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitSupervisor while held = %v, want DeadlineExceeded", err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.WaitSupervisor(cancelled, "abc"); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitSupervisor with a cancelled context = %v, want Canceled", err)
	}

	waited := make(chan error)
	go func() { waited <- d.WaitSupervisor(context.Background(), "abc") }()
	h.Release()
	if err := <-waited; err != nil {
		t.Errorf("WaitSupervisor after Release = %v", err)
	}
	if err := d.WaitSupervisor(context.Background(), "gone"); err != nil {
		t.Errorf("WaitSupervisor of a missing container = %v, want nil", err)
	}
}

func TestRemoveAbandoned(t *testing.T) {
	d := newDir(t)
	create(t, d, State{ID: "published"})
	old := time.Now().Add(-2 * time.Hour)

	tests := []struct {
		name     string
		lock     string // "free", "held" or "" (no lock file)
		old      bool
		wantKept bool
	}{
		{name: ".new-a-1", lock: "free", old: true},
		{name: ".new-b-2", old: true},
		{name: ".new-c-3", lock: "held", old: true, wantKept: true},
		{name: ".new-d-4", lock: "free", wantKept: true},
		{name: ".rm-e-5", lock: "free", old: true},
		{name: ".rm-f-6", lock: "held", old: true, wantKept: true},
		{name: "published", old: true, wantKept: true},
	}
	for _, tt := range tests {
		dir := filepath.Join(d.Path, tt.name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if tt.lock != "" {
			f, err := os.Create(filepath.Join(dir, "supervisor.lock"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.lock == "held" {
				if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
			} else {
				f.Close()
			}
		}
		if tt.old {
			if err := os.Chtimes(dir, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}

	if err := d.RemoveAbandoned(time.Hour); err != nil {
		t.Fatal(err)
	}
	left := entries(t, d)
	for _, tt := range tests {
		if kept := slices.Contains(left, tt.name); kept != tt.wantKept {
			t.Errorf("%s: kept = %v, want %v", tt.name, kept, tt.wantKept)
		}
	}
	if len(left) != 4 {
		t.Errorf("run directory holds %q", left)
	}
}
