# agentlab — every target works on a fresh machine with Go, Docker and (for the Rust bus) cargo.
GO ?= go

.PHONY: lab test test-short images vet clean bench profile

# The main job: the full lab, quick (every scenario, final-report.json with the migration scenario, report.html).
lab:
	$(GO) run ./lab --scenario all --quick

# The test suite CI runs: unit + Docker integration tests (conformance of every bus included), the Rust buses'
# cargo tests and the Rust stream client's (offline, crates vendored by rust-message-bus/build.sh).
test: vet
	$(GO) test -race -count=1 -timeout 40m ./...
	cd cmd/cadvisor && $(GO) test -race -count=1 ./...
	@if command -v cargo >/dev/null; then bash rust-message-bus/build.sh --test && bash rust-bus-epoll/build.sh --test && \
		bash rust-stream-client/build.sh --test; \
	else echo "make test: cargo not found on PATH: skipping the Rust bus's cargo test (install cargo to run it)"; fi

test-short:
	$(GO) test -short ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above are not formatted"; exit 1; }
	$(GO) vet ./...
	cd cmd/cadvisor && $(GO) vet ./...

# Build every image (agentlab/<name>:<hash> and :latest) from source, offline — agentlab/lab included, which
# carries all the others for `docker-compose up --exit-code-from lab`.
images: .env
	$(GO) run ./lab --images all

# docker-compose.yml's values for this machine, written once (an existing .env is left alone): the lab container
# runs as the owner of ./results with the Docker socket's group added.
.env:
	@printf 'LAB_UID=%s\nLAB_GID=%s\nDOCKER_GID=%s\n' "$$(id -u)" "$$(id -g)" \
		"$$(stat -c %g /var/run/docker.sock 2>/dev/null || echo 0)" > .env
	@echo "wrote .env for docker-compose: $$(tr '\n' ' ' < .env)"

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./gobus/

# CPU and allocation profiles of the Go bus at saturation (targeted, closed model, 100 agents; transport=netpoll
# with PROFILE_BENCH=Saturation/pattern=targeted/agents=100/transport=netpoll$$): the bus runs in the
# benchmark's process pinned to CPU 0, the real load generator in a child pinned to CPU 1 (BenchmarkSaturation).
# Profiles and the test binary go to $(PROFILE_DIR); the top of each is printed.
PROFILE_DIR ?= results/profile
PROFILE_BENCH ?= Saturation/pattern=targeted/agents=100/transport=gorilla$$
profile:
	mkdir -p $(PROFILE_DIR)
	$(GO) test -c -o $(PROFILE_DIR)/gobus.test ./gobus/
	taskset -c 0 $(PROFILE_DIR)/gobus.test -test.run '^$$' -test.bench '$(PROFILE_BENCH)' -test.benchtime 1x \
		-test.cpuprofile $(PROFILE_DIR)/cpu.out -test.memprofile $(PROFILE_DIR)/mem.out
	$(GO) tool pprof -top -nodecount 25 $(PROFILE_DIR)/gobus.test $(PROFILE_DIR)/cpu.out
	$(GO) tool pprof -top -nodecount 15 -sample_index alloc_space $(PROFILE_DIR)/gobus.test $(PROFILE_DIR)/mem.out

# Remove every container and network of every lab run on this daemon.
clean:
	$(GO) run ./lab --clean
