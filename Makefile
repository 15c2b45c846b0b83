# Roster — make help lists the targets.
GO       ?= go
PKG      := ./...
BIN      := bin/roster
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
FUZZTIME ?= 60s

.PHONY: help build test bench fuzz run clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/roster (pure Go, CGO_ENABLED=0)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/roster

test: ## Run go vet, staticcheck (pinned in go.mod) and every test with the race detector
	$(GO) vet $(PKG)
	$(GO) tool staticcheck $(PKG)
	$(GO) test -race -count=1 -timeout 20m $(PKG)

bench: ## Print the benchmark figures (HTTP vs raw SQLite and PostgreSQL, interleaved)
	ROSTER_BENCH=1 $(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 60m ./cmd/roster

fuzz: ## Run each fuzz target for FUZZTIME (default 60s)
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./agent/scim/filter
	$(GO) test -run '^$$' -fuzz '^FuzzPath$$' -fuzztime $(FUZZTIME) ./agent/scim/filter
	$(GO) test -run '^$$' -fuzz '^FuzzMatch$$' -fuzztime $(FUZZTIME) ./agent/scim/filter
	$(GO) test -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZTIME) ./agent/scim/patch
	$(GO) test -run '^$$' -fuzz '^FuzzEdge$$' -fuzztime $(FUZZTIME) ./agent/scimhttp
	$(GO) test -run '^$$' -fuzz '^FuzzVerifyAssertion$$' -fuzztime $(FUZZTIME) ./agent/oauth/jwtbearer

run: ## Run the agent in the foreground on 127.0.0.1:8080
	$(GO) run ./cmd/roster agent

clean: ## Remove build output
	rm -rf bin
