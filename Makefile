GO ?= go
PKGS := ./...

.PHONY: all build test vet fmt-check bench bench-peers bench-report fuzz fuzz-long run run-example crash-broker crash soak

all: build test

# build compiles every package and the daemon as a static binary
# (CGO_ENABLED=0, no libc needed): bin/onexbusd.
VERSION ?= 0.1.0-dev
REVISION ?= $(shell git describe --always --dirty 2>/dev/null)
BIN_LDFLAGS := -s -w -X github.com/onexbus/onexbus/internal/daemon.Version=$(VERSION) \
	-X github.com/onexbus/onexbus/internal/daemon.Revision=$(REVISION)
build:
	$(GO) build $(PKGS)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(BIN_LDFLAGS)" -o bin/onexbusd ./cmd/onexbusd

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

test: fmt-check vet
	$(GO) test -race -count=1 $(PKGS)
	# -mod=mod: the adapter builds on this tree (replace ../..), whose
	# requirements may be newer than the adapter's go.mod lists.
	cd adapters/watermill && $(GO) test -mod=mod -race -count=1 ./...

# bench runs the library's benchmarks (3 runs each, for medians).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 3 $(PKGS)

# bench-peers compares onexbus with peer systems (the bench/ module, its own
# go.mod): memory bus vs Watermill GoChannel, durable bus vs raw bbolt and
# NATS JetStream, Kafka forwarder vs kgo on kfake, and one child process per
# system for peak memory and open-loop latency. Raw output goes to
# bench/results/latest.txt; medians and ratios to bench/results/latest.md,
# the latency plot to bench/results/latency.svg and the tables to the
# README's performance section. Full: 3 runs of each case. QUICK=1: one
# short run of each (under a minute). The report fails if go test did,
# even through the pipe.
PEERS_QUICK := $(if $(filter 1,$(QUICK)),1,0)
PEERS_BENCHTIME := $(if $(filter 1,$(QUICK)),50ms,1s)
PEERS_COUNT := $(if $(filter 1,$(QUICK)),1,3)
PEERS_MODE := $(if $(filter 1,$(QUICK)),quick,full)
# The Kafka forwarder row needs transport/kafka's Forwarder (build tag forwarder).
PEERS_TAGS := $(if $(wildcard transport/kafka/forwarder.go),-tags forwarder,)
PEERS_FLAGS := $(PEERS_TAGS) -run '^$$' -bench . -benchmem -count $(PEERS_COUNT) -benchtime $(PEERS_BENCHTIME) -timeout 60m .
PEERS_REV = $(shell git describe --always --dirty 2>/dev/null)
bench-peers:
	cd bench && ONEXBUS_BENCH_QUICK=$(PEERS_QUICK) $(GO) test $(PEERS_FLAGS) 2>&1 | tee results/latest.txt
	cd bench && $(GO) run ./cmd/report -mode $(PEERS_MODE) -rev "$(PEERS_REV)" \
		-cmd "cd bench && ONEXBUS_BENCH_QUICK=$(PEERS_QUICK) go test $(PEERS_FLAGS)" \
		-svg results/latency.svg -readme ../README.md -o results/latest.md results/latest.txt
	@echo "wrote bench/results/latest.md, bench/results/latency.svg and the README's performance section"

# bench-report runs every measurement of issue 16's performance targets in
# one run (bench/cmd/targets): 3 interleaved rounds of every case, each its
# own process, about 10 minutes on 2 cores, and writes
# bench/results/<UTC date>-report.md with each figure against its target,
# the machine, the commit and the load average. The 16-synchronous-publisher
# figure is compared with BASELINE (a commit: its own bench module is built
# against its own library from git archive). The reopen row needs a ~1 GiB
# log, built once under $TMPDIR by the wal benchmark (a minute the first
# time). It fails, after the other rows ran, if any run of any row failed.
BASELINE ?= 6293fb1
ROUNDS ?= 3
bench-report:
	cd bench && $(GO) run ./cmd/targets -baseline $(BASELINE) -rounds $(ROUNDS)

# fuzz runs every fuzz target for FUZZTIME each (short in CI, long by hand).
FUZZTIME ?= 10s
fuzz:
	FUZZTIME=$(FUZZTIME) fuzz/run.sh

# fuzz-long runs every fuzz target for FUZZTIME each (10m unless given),
# keeping the generated corpus under <pkg>/testdata/fuzzcache (git-ignored,
# reused next time) and going on past a failing target; it prints the time
# per target and fails if any target did. FUZZPARALLEL=N bounds the workers
# of each target, FUZZJOBS=N runs N targets at once (so 23 targets at 10m
# with FUZZJOBS=3 take ~80 min), FUZZONLY=regex picks targets, FUZZLOGDIR=dir
# keeps every target's output; the summary has time, executions and new
# corpus entries per target:
#   nice -n 19 env FUZZJOBS=3 FUZZPARALLEL=1 make fuzz-long
fuzz-long:
	FUZZTIME=$(if $(filter command line,$(origin FUZZTIME)),$(FUZZTIME),10m) FUZZCORPUS=1 FUZZKEEPGOING=1 fuzz/run.sh

# run starts onexbusd on the embedded default: bbolt in ./onexbus-data,
# Kafka on 127.0.0.1:9092, admin (/livez, /readyz) on 127.0.0.1:8081.
# Extra flags: make run ARGS="--log-level debug".
run:
	$(GO) run ./cmd/onexbusd serve $(ARGS)

# run-example runs the embedded quick-start program (the library, no daemon).
run-example:
	$(GO) run ./examples/quickstart

# crash-broker runs the broker's kill -9 loop: idempotent acks=all kgo
# producers and a consumer group against a broker child process that is
# SIGKILLed and restarted CYCLES times (3 in CI); no acknowledged record
# may be lost or duplicated.
CYCLES ?= 3
crash-broker:
	ONEXBUS_CRASH_CYCLES=$(CYCLES) $(GO) test -count=1 -timeout 20m -run '^TestBrokerKillLoop$$' -v ./transport/kafka/broker/

# crash: CYCLES kill -9 cycles of the real onexbusd under the checker's
# workload (kgo and HTTP producers, a Kafka consumer group), then the same
# for the embedded bus in a child process (core TestCrash, every ordering
# mode and the DLQ, on both storage formats). SEED replays kill points;
# RATE paces each producer (publishes a second) so long runs check fast;
# FOR (a Go duration) stops starting cycles after that long.
# make test runs a few cycles; make crash CYCLES=1000 by hand (CYCLES defaults to 3, above).
CRASH_ENV = ONEXBUS_CRASH_CYCLES=$(CYCLES) $(if $(SEED),ONEXBUS_CRASH_SEED=$(SEED)) $(if $(RATE),ONEXBUS_CRASH_RATE=$(RATE)) $(if $(FOR),ONEXBUS_CRASH_FOR=$(FOR))
crash:
	$(CRASH_ENV) $(GO) test -count=1 -timeout 0 -v -run '^TestCrashDaemon$$' ./internal/crash/
	$(CRASH_ENV) $(GO) test -count=1 -timeout 0 -run '^TestCrash$$' ./core/
	$(CRASH_ENV) ONEXBUS_CRASH_FORMAT=kafka $(GO) test -count=1 -timeout 0 -run '^TestCrash$$' ./core/

# soak: DURATION (default 1h) of mixed load on onexbusd (kgo and HTTP
# producers at SOAK_RATE publishes a second each, a Kafka group, retention
# of 20k messages a partition, so the log reaches a steady size), sampling heap, RSS, goroutines, open
# files, publish p99 and disk size every SOAK_INTERVAL into
# $(SOAK_OUT)/soak.csv and soak.svg; then the checker. Flat: the last
# quarter's median within 10% of the second quarter's.
DURATION ?= 1h
SOAK_RATE ?= 300
SOAK_INTERVAL ?= 5s
SOAK_OUT ?= $(CURDIR)/bin/soak
soak:
	ONEXBUS_SOAK_DURATION=$(DURATION) ONEXBUS_SOAK_RATE=$(SOAK_RATE) ONEXBUS_SOAK_INTERVAL=$(SOAK_INTERVAL) \
		ONEXBUS_SOAK_OUT=$(SOAK_OUT) $(GO) test -count=1 -timeout 0 -v -run '^TestSoak$$' ./internal/crash/
