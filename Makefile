GO ?= go
PKGS := ./...

.PHONY: all build test vet fmt-check bench bench-peers fuzz run

all: build test

build:
	$(GO) build $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

test: fmt-check vet
	$(GO) test -race -count=1 $(PKGS)
	cd adapters/watermill && $(GO) test -race -count=1 ./...

# bench runs the library's benchmarks (3 runs each, for medians).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 3 $(PKGS)

# bench-peers compares onexbus with peer systems (the bench/ module, its own
# go.mod): 3 runs of each case, raw output in bench/results/latest.txt and
# medians in bench/results/latest.md. QUICK=1 uses a short -benchtime (under
# a minute). The report fails if go test did, even through the pipe.
PEERS_BENCHTIME := $(if $(filter 1,$(QUICK)),200ms,1s)
PEERS_MODE := $(if $(filter 1,$(QUICK)),quick,full)
PEERS_FLAGS := -run '^$$' -bench . -benchmem -count 3 -benchtime $(PEERS_BENCHTIME) -timeout 30m .
PEERS_REV = $(shell git describe --always --dirty 2>/dev/null)
bench-peers:
	cd bench && $(GO) test $(PEERS_FLAGS) 2>&1 | tee results/latest.txt
	cd bench && $(GO) run ./cmd/report -mode $(PEERS_MODE) -rev "$(PEERS_REV)" -cmd "cd bench && go test $(PEERS_FLAGS)" -o results/latest.md results/latest.txt
	@echo "wrote bench/results/latest.md"

# fuzz runs every fuzz target for FUZZTIME each (short in CI, long by hand).
FUZZTIME ?= 10s
fuzz:
	FUZZTIME=$(FUZZTIME) fuzz/run.sh

run:
	$(GO) run ./examples/quickstart
