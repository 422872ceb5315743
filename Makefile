# crate's build: two static binaries, the demo image, the tests.
# `sudo make demo` and `sudo make test` work on a fresh Debian or Ubuntu machine with Go installed.

# sudo resets PATH; Go's own installer puts it in /usr/local/go.
export PATH := $(PATH):/usr/local/go/bin
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"
IMAGE   := build/busybox.tar.gz
SOURCES := $(shell find cmd pkg -name '*.go' -not -name '*_test.go') go.mod go.sum

.PHONY: all build deps deps-demo image demo test test-host test-v2 soak bench clean
.PHONY: deb rpm test-package manpages completions pkgdocs

all: build

build: bin/crate bin/crate-init

bin/crate: $(SOURCES)
	$(GOBUILD) -o $@ ./cmd/crate

bin/crate-init: $(SOURCES)
	$(GOBUILD) -o $@ ./cmd/crate-init

# deps installs what the tests need from Debian's packages, deps-demo only
# what the demo needs.
deps:
	scripts/install-deps.sh

deps-demo:
	scripts/install-deps.sh demo

image: $(IMAGE)

$(IMAGE): scripts/mkimage-busybox.sh
	scripts/mkimage-busybox.sh $@

demo: deps-demo build image
	bin/crate run --hostname demo --memory 64 --cpu 50 --pids 100 $(IMAGE) whoami-container

# test runs the unit and integration tests on this machine, then the
# integration tests again under pure cgroup v2 in a VM, then builds, checks,
# installs and removes the .deb (and builds and checks the .rpm).
test: test-host test-v2 test-package

test-host: deps build
	$(GO) test -count=1 ./...

test-v2: deps build
	scripts/test-v2.sh

# soak starts a thousand containers with faults injected at random moments
# (killed supervisors and inits, signals, a full disk, too few descriptors)
# while other crate commands run beside them, and fails on anything left
# (root; about ten minutes). make test runs a short form of it.
soak: deps build
	CI=true CRATE_SOAK=$${CRATE_SOAK:-1000} $(GO) test -count=1 -v -run '^TestSoak$$' -timeout 60m ./cmd/crate

# bench compares crate with runc, bubblewrap and unshare+chroot and writes
# nothing outside build/bench (root; a few minutes, plus one for debootstrap
# the first time). See docs/benchmarks.md.
bench: build
	scripts/bench.sh

# The bench's probe of the floor (its part 5): crate built to start
# containers under limits below the minimum that crate run refuses.
# Its crate-init is built with it: crate refuses an init of another version,
# and bin/ may have been built at another commit.
build/bench/crate-floorprobe: $(SOURCES)
	$(GOBUILD) -tags floorprobe -o $@ ./cmd/crate
	$(GOBUILD) -o $@-init ./cmd/crate-init

# --- Distribution packages -------------------------------------------------
# `make deb` and `make rpm` write build/crate_*.deb and build/crate-*.rpm with
# nfpm, a Go tool dependency (go.mod's `tool` line): nothing is downloaded
# but Go modules. The manual pages and shell completions come from the built
# crate itself, so they always match its flags. See scripts/package/.
NFPM        := $(GO) tool nfpm
PKG_VERSION  = $(shell scripts/package/version.sh $(VERSION))
PKG_RELEASE := 1
PKG_ARCH     = $(shell $(GO) env GOARCH)
PKG_MAINT   := crate developers <crate@crate-run.invalid>
# The commit's time, for the Debian changelog's date and nfpm's timestamps:
# two builds of one commit give the same package.
ifndef SOURCE_DATE_EPOCH
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
endif
export SOURCE_DATE_EPOCH
# Each build removes the previous packages, so build/ holds the current one.
PKG_OLD_deb := build/crate_*.deb
PKG_OLD_rpm := build/crate-*.rpm

deb rpm: build manpages completions pkgdocs
	rm -f $(PKG_OLD_$@)
	PKG_VERSION='$(PKG_VERSION)' PKG_RELEASE='$(PKG_RELEASE)' PKG_ARCH='$(PKG_ARCH)' \
		$(NFPM) package -p $@ -f scripts/package/nfpm.yaml -t build/

# manpages: crate(1) and crate-SUBCOMMAND(1) from the hidden `crate man DIR`.
# gzip -n leaves out the file name and time, for reproducible packages.
manpages: bin/crate
	rm -rf build/man && mkdir -p build/man
	bin/crate man build/man
	@ls build/man/*.1 >/dev/null 2>&1 || { echo "bin/crate man wrote no manual page into build/man" >&2; exit 1; }
	gzip -9n build/man/*.1

completions: bin/crate
	rm -rf build/completions && mkdir -p build/completions
	for sh in bash zsh fish; do \
		bin/crate completion $$sh >build/completions/crate.$$sh || exit 1; \
		test -s build/completions/crate.$$sh || { echo "bin/crate completion $$sh printed nothing" >&2; exit 1; }; \
	done

# pkgdocs: docs/changelog.md gzipped, and the Debian changelog made from it.
pkgdocs:
	rm -rf build/doc && mkdir -p build/doc
	gzip -9nc docs/changelog.md >build/doc/changelog.gz
	scripts/package/debian-changelog.sh docs/changelog.md '$(PKG_VERSION)-$(PKG_RELEASE)' '$(PKG_MAINT)' \
		>build/doc/changelog.Debian
	gzip -9n build/doc/changelog.Debian

# test-package builds both packages, checks them with lintian and against the
# expected file list, installs the .deb, runs it, removes and purges it (root;
# installs lintian, rpm and man-db if missing).
test-package: deps
	scripts/package/test.sh

clean:
	rm -rf bin build
