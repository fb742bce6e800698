GO ?= go
PKGS := ./...

.PHONY: all build test vet fmt-check bench fuzz run

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

# bench runs the library's benchmarks (3 runs each, for medians).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 3 $(PKGS)

# fuzz runs every fuzz target for FUZZTIME each (short in CI, long by hand).
FUZZTIME ?= 10s
fuzz:
	FUZZTIME=$(FUZZTIME) fuzz/run.sh

run:
	$(GO) run ./examples/quickstart
