# otelcol-rca: build, run and test the distribution.
# Everything this file needs beyond Go is installed by it into ./.tools (pinned) or by .ci/run (apt packages).

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The module proxy here has no checksum-database entries for these modules at
# the versions we pin (sum.golang.org answers 404), so `go` must not ask for
# them. Everything else stays verified against the checksum database, and
# go.sum files are committed.
export GONOSUMDB := github.com/open-telemetry/opentelemetry-collector-contrib/exporter/elasticsearchexporter,github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter,github.com/aws/aws-sdk-go-v2/service/servicediscovery,github.com/open-telemetry/opentelemetry-collector-contrib/extension/pprofextension,github.com/open-telemetry/opentelemetry-collector-contrib/extension/encoding/otlpencodingextension,go.opentelemetry.io/ebpf-profiler,go.opentelemetry.io/collector/cmd/mdatagen,go.opentelemetry.io/collector/extension/memorylimiterextension

TOOLS_BIN   := $(CURDIR)/.tools/bin
BUILDER     := $(TOOLS_BIN)/builder
MDATAGEN    := $(TOOLS_BIN)/mdatagen
VICTORIALOGS := $(TOOLS_BIN)/victoria-logs
JAEGER      := $(TOOLS_BIN)/jaeger
GOLANGCI_LINT := $(TOOLS_BIN)/golangci-lint
COLLECTOR   := bin/otelcol-rca

# Go modules of the repository, one go.mod each (as in collector-contrib).
COMPONENT_MODULES := receiver/scenarioreceiver processor/rootcauseprocessor processor/oversizeprocessor exporter/incidentalertexporter exporter/incidentpageexporter
MODULES := $(COMPONENT_MODULES) replay services deploy testbed .
# Modules present in this checkout (later ones may not exist yet on old branches).
PRESENT_MODULES = $(foreach m,$(MODULES),$(if $(wildcard $(m)/go.mod),$(m)))

COMPONENT_SOURCES := $(shell find receiver processor exporter -name '*.go' -o -name '*.yaml' -o -name 'go.mod' -o -name 'go.sum' 2>/dev/null)

# make run parameters
DURATION  ?= 3m
INCIDENTS ?= checkout,login,catalog
SHARDS    ?= 3

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BUILDER) $(MDATAGEN): internal/tools/go.mod internal/tools/go.sum
	@mkdir -p $(TOOLS_BIN)
	cd internal/tools && go build -o $(TOOLS_BIN)/ go.opentelemetry.io/collector/cmd/builder go.opentelemetry.io/collector/cmd/mdatagen
	@touch $(BUILDER) $(MDATAGEN)

# A real log store that speaks the Elasticsearch bulk API, for the tests of
# the elasticsearch exporter path (Elasticsearch itself cannot run here).
$(VICTORIALOGS):
	GOBIN=$(TOOLS_BIN) go install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v1.52.1

# A real Jaeger v2 (memory storage) for the end-to-end tests: the incident's
# traces are looked up through its query API, over OTLP and over Zipkin.
$(JAEGER): internal/tools/jaeger/go.mod internal/tools/jaeger/go.sum
	@mkdir -p $(TOOLS_BIN)
	cd internal/tools/jaeger && go build -o $(JAEGER) github.com/jaegertracing/jaeger/cmd/jaeger
	@touch $(JAEGER)

$(GOLANGCI_LINT):
	GOBIN=$(TOOLS_BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

.PHONY: tools
tools: $(BUILDER) $(MDATAGEN) $(VICTORIALOGS) $(JAEGER) ## Install the pinned tools (ocb, mdatagen, VictoriaLogs, Jaeger) into ./.tools/bin

# cmd/otelcol-rca holds what the distribution's main package adds to the
# sources ocb generates (the feature gates on by default): copied in first,
# compiled with them under the manifest's build tag.
$(COLLECTOR): builder-config.yaml $(BUILDER) $(COMPONENT_SOURCES) $(wildcard cmd/otelcol-rca/*.go)
	@mkdir -p _build
	cp cmd/otelcol-rca/*.go _build/
	$(BUILDER) --config builder-config.yaml
	@mkdir -p bin
	cp _build/otelcol-rca $(COLLECTOR)

.PHONY: build
build: $(COLLECTOR) ## Build the collector with ocb into bin/otelcol-rca
	cd services && go build -o ../bin/ ./cmd/rca-services ./cmd/rca-demo ./loadgen

.PHONY: run
run: build ## Run the local demo: collector, services, load and the three seed incidents (DURATION=4m INCIDENTS=checkout,login,catalog)
	./bin/rca-demo --collector $(COLLECTOR) --services bin/rca-services --duration $(DURATION) --incidents $(INCIDENTS)

.PHONY: run-cluster
run-cluster: build ## The same demo through a cluster on loopback: one gateway (loadbalancing by trace ID), SHARDS=3 rootcause shards, the incident stage
	./bin/rca-demo --collector $(COLLECTOR) --services bin/rca-services --duration $(DURATION) --incidents $(INCIDENTS) --shards $(SHARDS) --out out-cluster

.PHONY: test
test: build $(VICTORIALOGS) $(JAEGER) ## Run the whole test suite (components with -race, services, deploy, distribution end-to-end)
	@set -e; export RCA_VICTORIALOGS=$(VICTORIALOGS) RCA_JAEGER=$(JAEGER) RCA_E2E=1; for m in $(PRESENT_MODULES); do \
		echo "== go test $$m"; \
		race=""; case " $(COMPONENT_MODULES) " in *" $$m "*) race="-race";; esac; \
		(cd $$m && go test $$race -count=1 -timeout 20m ./...); \
	done

.PHONY: test-testbed
test-testbed: build ## Full testbed runs: correctness, 10k and 50k spans/s through passthrough, tail_sampling and rootcause
	cd testbed && RCA_TESTBED_FULL=1 go test -count=1 -timeout 60m ./...

.PHONY: bench
bench: build $(VICTORIALOGS) $(JAEGER) ## Run every benchmark (speed, memory, accuracy, testbed peers, overload, the stack) and regenerate BENCHMARKS.md
	./scripts/bench.sh

.PHONY: bench-accuracy
bench-accuracy: ## Accuracy benchmark: 100 generated fault cases + the seed scenarios; prints AC@1, AC@3, Avg@5, delays, false incidents
	set -o pipefail; cd processor/rootcauseprocessor && RCA_ACCURACY_CASES=$${RCA_ACCURACY_CASES:-100} go test -run '^TestAccuracy$$' -count=1 -timeout 60m -v . | sed -n '/| Fault kind/,/False incidents/p'

.PHONY: bench-accuracy-bare
bench-accuracy-bare: ## The accuracy benchmark on bare traces (no kind, status, attributes or events; failures only in ERROR logs), as real recordings often are
	set -o pipefail; cd processor/rootcauseprocessor && RCA_ACCURACY_VIEW=bare RCA_ACCURACY_CASES=$${RCA_ACCURACY_CASES:-100} go test -run '^TestAccuracy$$' -count=1 -timeout 60m -v . | sed -n '/| Fault kind/,/False incidents/p'

.PHONY: bench-overload
bench-overload: build ## Overload: the shipped config under a flood of 1 KB spans for a minute; RSS against its memory budget, refusals counted
	cd test/e2e && RCA_OVERLOAD=1 go test -run '^TestOverload$$' -count=1 -timeout 10m -v . | grep -v -e '^=== RUN' -e '^PASS' -e '^ok '

.PHONY: bench-stack
bench-stack: build $(VICTORIALOGS) $(JAEGER) ## The stack as shipped: real exporters into Jaeger and the log store, 1 KB and 10 KB spans at 10k, 50k spans/s and a flood, under compose's memory cap; Jaeger up, then down
	set -o pipefail; cd test/e2e && RCA_STACK=1 RCA_VICTORIALOGS=$(VICTORIALOGS) RCA_JAEGER=$(JAEGER) go test -run '^TestStack$$' -count=1 -timeout 90m -v . | grep -e 'stack_test.go' -e '^ *|' -e '^--- ' -e '^ok ' -e '^FAIL' -e 'Error'

# The real-world benchmark replays every dataset folder of ../shared/datasets
# (beside the repository, or where this project's machines keep it);
# DATASET=<folder> picks one, CASES=3,7 some of its cases (indexes in time
# order), RCA_REALWORLD_VERBOSE=1 prints each case's incident records.
DATASET ?=

.PHONY: bench-realworld
bench-realworld: ## Real recorded faults (every Train Ticket day): every case, cold (one reference minute) and continuous; AC@1, AC@3, Avg@5 per fault type, delays, false incidents
	set -o pipefail; cd replay && RCA_REALWORLD=1 DATASET=$(if $(DATASET),$(abspath $(DATASET))) go test -run '^TestRealWorld$$' -count=1 -timeout 60m -v ./realworld/ | grep -v -e '^=== RUN' -e '^--- PASS' -e '^PASS' -e '^ok '

.PHONY: replay
replay: ## Build bin/rca-replay: run recorded telemetry (OTLP files, Train Ticket) through rootcause and print its incidents
	cd replay && go build -o ../bin/rca-replay ./cmd/rca-replay

.PHONY: lint
lint: $(GOLANGCI_LINT) ## go vet, gofmt and golangci-lint (.golangci.yml) on every module
	@set -e; for m in $(PRESENT_MODULES); do \
		echo "== go vet + golangci-lint $$m"; (cd $$m && go vet ./... && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...); \
	done
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: generate
generate: $(MDATAGEN) ## Regenerate component metadata code with mdatagen
	@set -e; for m in $(COMPONENT_MODULES); do \
		echo "== mdatagen $$m"; (cd $$m && $(MDATAGEN) metadata.yaml); \
	done

.PHONY: tidy
tidy: ## go mod tidy in every module
	@set -e; for m in $(PRESENT_MODULES) internal/tools; do \
		echo "== go mod tidy $$m"; (cd $$m && go mod tidy); \
	done

.PHONY: clean
clean: ## Remove build outputs
	rm -rf _build bin out .tools
