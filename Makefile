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

.PHONY: all build deps image demo test test-host test-v2 bench clean

all: build

build: bin/crate bin/crate-init

bin/crate: $(SOURCES)
	$(GOBUILD) -o $@ ./cmd/crate

bin/crate-init: $(SOURCES)
	$(GOBUILD) -o $@ ./cmd/crate-init

# deps installs what the demo and the tests need from Debian's packages.
deps:
	scripts/install-deps.sh

image: $(IMAGE)

$(IMAGE): scripts/mkimage-busybox.sh
	scripts/mkimage-busybox.sh $@

demo: deps build image
	bin/crate run --hostname demo --memory 64 --cpu 50 --pids 100 $(IMAGE) whoami-container

# test runs the unit and integration tests on this machine, then the
# integration tests again under pure cgroup v2 in a VM.
test: test-host test-v2

test-host: deps build
	$(GO) test -count=1 ./...

test-v2: deps build
	scripts/test-v2.sh

# bench compares crate with runc, bubblewrap and unshare+chroot and writes
# nothing outside build/bench (root; about 1.5 minutes, plus one for
# debootstrap the first time). See docs/benchmarks.md.
bench: build
	scripts/bench.sh

clean:
	rm -rf bin build
