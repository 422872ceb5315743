package image

import (
	"strings"
	"testing"

	"github.com/distribution/reference"
)

// referenceNames are names on both sides of every rule of the grammar.
var referenceNames = []string{
	"busybox", "busybox:latest", "busybox:1.36.1-musl", "library/busybox", "docker.io/busybox",
	"docker.io/library/busybox:1", "index.docker.io/busybox", "quay.io/coreos/etcd:v3.5",
	"localhost/app", "localhost:5000/app:dev", "registry:5000/app", "127.0.0.1:5000/a/b/c",
	"[::1]:5000/app", "[fe80::1]/app", "Example.com/app", "a.b-c.d/e", "my_app", "my__app",
	"my___app", "my-----app", "my.app", "my..app", "my._app", "-app", "app-", "_app", "app_",
	"a/b/c/d/e", "a//b", "/app", "app/", "APP", "App:tag", "app:TAG_ok", "app:.bad", "app:-bad",
	"app:" + strings.Repeat("t", 128), "app:" + strings.Repeat("t", 129), "app:", "app:a:b",
	"app@sha256:" + strings.Repeat("a", 64), "host:/app", "host:port/app", "-host.io/app",
	"host-.io/app", "ho_st.io/app", "[]/app", "[zz]/app", "[::1/app", strings.Repeat("a", 247),
	strings.Repeat("a", 248), "x/" + strings.Repeat("a", 253), "x/" + strings.Repeat("a", 254),
	"quay.io/" + strings.Repeat("a", 255), "quay.io/" + strings.Repeat("a", 256), "evil\x1b[31m",
	"a\rb", "tab\tname", "é", "app:tâg", strings.Repeat("a", 64), strings.Repeat("a", 64) + ":t",
	"docker.io/" + strings.Repeat("f", 64), "sha256", "sha256:abc", "",
}

// TestNameGrammarIsTheLibrarys: parseName accepts what
// github.com/distribution/reference accepts (digests aside, which crate
// refuses), and gives the same familiar repository.
func TestNameGrammarIsTheLibrarys(t *testing.T) {
	for _, name := range referenceNames {
		checkAgainstLibrary(t, name)
	}
}

// FuzzNameGrammar holds parseName to the library on any input.
func FuzzNameGrammar(f *testing.F) {
	for _, name := range referenceNames {
		f.Add(name)
	}
	f.Fuzz(checkAgainstLibrary)
}

func checkAgainstLibrary(t *testing.T, name string) {
	repo, _, problem := parseName(name)
	named, err := reference.ParseNormalizedNamed(name)
	if err == nil {
		if _, ok := named.(reference.Digested); ok {
			err = errDigest
		}
	}
	switch {
	case err == nil && problem != "":
		t.Errorf("parseName(%q) refuses it (%s); the library takes it", name, problem)
	case err != nil && problem == "" && !(len(name) == 64 && isHex(name)):
		t.Errorf("parseName(%q) takes it; the library refuses it: %v", name, err)
	case err == nil && repo != reference.FamiliarName(named):
		t.Errorf("parseName(%q) = repository %q, the library's is %q", name, repo, reference.FamiliarName(named))
	}
}

var errDigest = reference.ErrReferenceInvalidFormat
