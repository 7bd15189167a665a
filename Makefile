# Corral: build, demo, test and lint. Run `make deps` (as root, or it tells
# you what to install) on a fresh Debian/Ubuntu machine first; demo and test
# do it for you.

GO          ?= go
TOOLBIN     := $(shell $(GO) env GOPATH 2>/dev/null)/bin
# staticcheck 2026.2.2; the newest release the proxy has, and it builds with Go 1.26.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(TOOLBIN)/staticcheck
GOTEST      := $(GO) test -count=1 -timeout 10m
# Packages whose tests the VM lane runs; empty means ./sandbox ./examples/corral
# ./internal/adversarial ./sandbox/sandboxtest ./sandbox/pluginrunner
# ./examples/pluginhost.
VMTEST_PKGS ?=

.PHONY: all deps build demo plugin-demo playground loadtest loadtest-short test test-vm lint clean

all: build

# System packages and the Go version check: see .ci/deps.sh.
deps:
	@bash .ci/deps.sh

build:
	$(GO) build -o bin/corral ./examples/corral
	$(GO) build -o bin/registry ./examples/registry

# A guided tour of the default sandbox; fails if any property does not hold.
demo: deps build
	@bash examples/demo.sh bin/corral bin/registry

# A go-plugin host with its key-value plugin sandboxed (examples/pluginhost).
plugin-demo: deps
	$(GO) build -o bin/kvplugin ./examples/pluginhost/kvplugin
	$(GO) build -o bin/pluginhost ./examples/pluginhost
	@echo "== the plugin sandboxed (pluginrunner.RunnerFunc)"
	bin/pluginhost -plugin bin/kvplugin
	@echo "== the same plugin as go-plugin runs it by default (ClientConfig.Cmd), for comparison"
	bin/pluginhost -plugin bin/kvplugin -unsandboxed

# The code runner service and its playground page (examples/coderunner)
# with its defaults; Ctrl-C stops it gracefully. PLAYGROUND_FLAGS adds
# flags (-addr, -pool, -token...: see README, "Code runner service").
PLAYGROUND_ADDR ?= 127.0.0.1:8080
playground: deps
	$(GO) build -o bin/coderunner ./examples/coderunner
	@echo "== the playground: http://$(PLAYGROUND_ADDR)/ (Ctrl-C stops it)"
	bin/coderunner -addr $(PLAYGROUND_ADDR) $(PLAYGROUND_FLAGS)

# The code runner's load test (issue 15): 200 clients against the server
# for each backend (corral reusing sandboxes, corral with fresh ones, bwrap)
# in two modes (python3 hello world: the issue's targets; a mix of every
# language, compile errors and bombs), every answer checked, side by side
# with the ratios; about 5 minutes. LOADTEST_FLAGS adds flags (go doc
# ./examples/coderunner/loadgen). loadtest-short is the form CI runs (make
# test runs it too): a few seconds per backend, correctness only.
loadtest: deps
	$(GO) run ./examples/coderunner/loadgen $(LOADTEST_FLAGS)

loadtest-short: deps
	$(GOTEST) -run 'TestLoadShort|TestChecks' -v ./examples/coderunner/loadgen

# The suite three times: as the caller (root on CI), then as uid 65534 with
# no capabilities, the way most users run it, then in a VM with pure cgroup
# v2 (test-vm). All three always run; any failing fails make.
test: deps
	$(GO) vet ./...
	@rc=0; \
	echo "== tests as $$(id -un) (uid $$(id -u))"; \
	echo "go test ./... (.ci/gotest.sh)"; GO=$(GO) bash .ci/gotest.sh || rc=1; \
	echo "== tests as uid 65534, no capabilities (internal/testutil/run-as-nobody)"; \
	echo "go test -exec $(CURDIR)/internal/testutil/run-as-nobody ./..."; \
	GO=$(GO) bash .ci/gotest.sh -exec $(CURDIR)/internal/testutil/run-as-nobody || rc=1; \
	echo "== tests in a cgroup-v2 VM, as root and as uid 1000 (internal/vmtest/run.sh)"; \
	bash internal/vmtest/run.sh $(VMTEST_PKGS) || rc=1; \
	exit $$rc

# The test binaries of VMTEST_PKGS (default ./sandbox ./examples/corral)
# in a qemu VM (Debian's cloud kernel, busybox, cgroup2 alone at
# /sys/fs/cgroup), as root and as uid 1000 in a delegated cgroup: see
# internal/vmtest/run.sh for what it installs, caches and prints.
test-vm: deps
	@bash internal/vmtest/run.sh $(VMTEST_PKGS)

# The start-up benchmark (issue 6): Corral cold and warm against
# exec.Command("/bin/true") and bubblewrap, interleaved, with throughput,
# concurrency, bind-mount and memory tables and the targets; about 2
# minutes. bench-smoke runs every part briefly (CI: it works, not how fast).
.PHONY: bench bench-smoke
bench: deps
	$(GO) run ./internal/bench $(BENCHFLAGS)

bench-smoke: deps
	$(GO) run ./internal/bench -smoke
	$(GO) run ./internal/netbench -bytes 67108864 -rounds 1 -rr 20
	$(GO) run ./internal/imagebench -smoke

.PHONY: bench-image
# Container images (issue 17): the cold pull and unpack of a generated
# 50 MB image from a registry on loopback, and the start latency of a
# sandbox on the cached image next to the default root, cold and warm
# (internal/imagebench); about a minute.
bench-image: deps
	$(GO) run ./internal/imagebench $(BENCH_IMAGE_FLAGS)

.PHONY: bench-net
# The egress network's throughput and latency, side by side with the host's
# loopback, slirp4netns and pasta (internal/netbench); about a minute.
bench-net: deps
	$(GO) run ./internal/netbench $(BENCH_NET_FLAGS)

# The small init's benchmark (issue 14): a big host program (a nested
# module, internal/bench/bighost, importing k8s.io/client-go, grpc, the
# Prometheus client and go-plugin; its first build downloads them) against
# the CLI, cold and pooled, with and without Options.Init. Not in CI: the
# download and the 55 MiB build are not cheap. BIGHOST_ROUNDS rounds.
.PHONY: bench-bighost
bench-bighost: deps
	bash internal/bench/bighost/run.sh $(BIGHOST_ROUNDS)

# The full soak of internal/adversarial: 10,000 runs of normal commands and
# bombs across 8 workers, with a leak check (RSS, fds, goroutines, cgroups,
# mounts) every 1,000 runs; go test runs the short, 200-run version.
.PHONY: soak
soak:
	CORRAL_SOAK=full $(GO) test -count=1 -timeout 60m -run TestSoak -v ./internal/adversarial

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if ! "$(STATICCHECK)" -version 2>/dev/null | grep -q "($(STATICCHECK_VERSION:v%=%))"; then \
		echo "installing staticcheck $(STATICCHECK_VERSION) into $(TOOLBIN)"; \
		GOBIN=$(TOOLBIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); \
	fi
	$(STATICCHECK) ./...

clean:
	rm -rf bin/
