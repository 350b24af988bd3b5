# The README's commands. `make test` is what CI runs (through .ci/run).
.PHONY: build demo test bench

build:
	go build -o bin/caddy ./cmd/caddy
	go build -o bin/wxmock ./cmd/wxmock

demo:
	./scripts/demo.sh

test:
	go test -race ./...

# What wxauth costs per request next to plain reverse_proxy; see BENCH.md.
bench:
	./bench/run.sh

# xcaddy-build, xcaddy-run, xcaddy-test
include xcaddy.mk
