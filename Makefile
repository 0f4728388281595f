# Build, lint and test every Go module in this repository.
#
# The repository holds several Go modules (see ARCHITECTURE.md §5) and
# `go test ./...` does not descend into nested modules, so each target loops
# over every directory that has a go.mod. The list is found at run time, so a
# new module directory is picked up without editing this file.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

# Every module, root first: ".", "./benchmarks", "./freshredis", ...
MODULES := $(shell cd '$(ROOT)' && find . \( -path ./bin -o -path ./.git -o -name testdata -o -name vendor \) -prune \
	-o -type f -name go.mod -print | sed 's|/go.mod$$||' | LC_ALL=C sort)

# tools/ only pins developer tools (a `tool` directive, no Go packages), so
# vet, lint, tests and fuzzing skip it. The gofmt check still covers it.
CODE_MODULES := $(filter-out ./tools,$(MODULES))

# The go test step runs TEST_JOBS modules at a time (their tests wait on servers,
# child processes and timers as much as they compute), the slowest first.
TEST_JOBS ?= 2
SLOW_MODULES := $(filter $(CODE_MODULES),./freshredis ./freshsql/soundness . ./benchmarks ./cmd/fresh ./freshsqlite)
TEST_ORDER := $(SLOW_MODULES) $(filter-out $(SLOW_MODULES),$(CODE_MODULES))

GOLANGCI_LINT := $(ROOT)/bin/golangci-lint
# golangci-lint's cache stores the file paths of the checkout that filled it; a
# cache shared between checkouts (a CI clone, a worktree) can answer with paths
# that no longer exist, and then its exclusion rules fail. Each checkout keeps
# its own.
GOLANGCI_LINT_CACHE ?= $(ROOT)/bin/lint-cache
export GOLANGCI_LINT_CACHE
GOLANGCI_LINT_PKG := github.com/golangci/golangci-lint/v2/cmd/golangci-lint
FUZZTIME ?= 10s

# Integration tests talk to these servers (STYLE.md item 9); scripts/services.sh
# makes sure they are up. Override on the command line or in the environment.
FRESH_REDIS_URL ?= redis://127.0.0.1:6379/0
FRESH_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
FRESH_MYSQL_DSN ?= root@tcp(127.0.0.1:3306)/test
FRESH_NATS_URL ?= nats://127.0.0.1:4222
export FRESH_REDIS_URL FRESH_POSTGRES_URL FRESH_MYSQL_DSN FRESH_NATS_URL

# The standard cache traces for the hit-ratio benchmark are read in place, never
# copied into the repository: ../shared/traces next to the checkout, or the
# workplace's copy.
FRESH_TRACES ?= $(firstword $(wildcard $(ROOT)/../shared/traces /work/shared/traces))
export FRESH_TRACES

# $(call each,STEP,MODULES,COMMAND) runs COMMAND inside each module directory,
# printing a header per module and stopping at the first failure.
define each
	@for m in $(2); do \
		printf '\n==> %s: %s\n' '$(1)' "$$m"; \
		( cd '$(ROOT)'/"$$m" && $(3) ) || { printf '\nFAILED: %s in module %s\n' '$(1)' "$$m" >&2; exit 1; }; \
	done
endef

# Go files of the module in the current directory: nested modules, testdata,
# vendor and dot/underscore directories are left out (the go tool ignores them).
GOFILES_CMD = find . \( -path ./bin -o -name testdata -o -name vendor -o -name '.?*' -o -name '_*' \) -prune \
	-o -type d ! -path . -exec test -e '{}/go.mod' ';' -prune \
	-o -type f -name '*.go' -print

FMTCHECK_CMD = files=$$($(GOFILES_CMD)); \
	if [ -z "$$files" ]; then echo 'no Go files'; exit 0; fi; \
	bad=$$(gofmt -s -l $$files); \
	if [ -n "$$bad" ]; then echo 'not gofmt-ed (run make fmt):'; echo "$$bad"; exit 1; fi; \
	echo "ok ($$(wc -w <<< "$$files") files)"

FMT_CMD = files=$$($(GOFILES_CMD)); \
	if [ -n "$$files" ]; then gofmt -s -w $$files; fi

VET_CMD = go vet ./...

LINT_CMD = '$(GOLANGCI_LINT)' run --config '$(ROOT)/.golangci.yml' ./...

TEST_CMD = go test -race -count=1 ./...

# For each package, list its Fuzz targets and run each one briefly from the
# package directory (-fuzz accepts a single target in a single package).
FUZZ_CMD = targets=$$(go test -list '^Fuzz' ./... | awk '/^Fuzz/ { names[n++] = $$1 } \
		/^ok/ { for (i = 0; i < n; i++) print $$2, names[i]; n = 0 }'); \
	if [ -z "$$targets" ]; then echo 'no fuzz targets'; exit 0; fi; \
	while read -r pkg name; do \
		echo "--- $$name ($$pkg)"; \
		( cd "$$(go list -f '{{.Dir}}' "$$pkg")" && go test -run '^$$' -fuzz "^$$name\$$" -fuzztime '$(FUZZTIME)' . ) || exit 1; \
	done <<< "$$targets"

.PHONY: help test fmtcheck fmt vet lint gotest services demo bench fuzz clean modules

help:
	@echo 'Targets:'
	@echo '  test      gofmt check, go vet, golangci-lint, then services + go test -race, for every module (TEST_JOBS at a time)'
	@echo '  fmtcheck  fail if gofmt -s would change any file'
	@echo '  fmt       gofmt -s -w every module'
	@echo '  vet       go vet ./... in every module'
	@echo '  lint      golangci-lint run in every module (builds bin/golangci-lint once)'
	@echo '  gotest    go test -race -count=1 ./... in every module, TEST_JOBS (2) at a time (no service check)'
	@echo '  services  make sure Redis, PostgreSQL, MariaDB and NATS are up'
	@echo '  fuzz      run every Fuzz target for $(FUZZTIME) (FUZZTIME=30s to change)'
	@echo '  demo      go run the CLI demo (cmd/fresh)'
	@echo '  bench     run the benchmark report (benchmarks/)'
	@echo '  modules   list the modules the targets loop over'
	@echo '  clean     remove bin/ and benchmark output'

modules:
	@printf '%s\n' $(MODULES)

# The full gate, used by .ci/run. Cheap checks run across all modules first;
# the services are only brought up once those pass.
test: $(GOLANGCI_LINT)
	$(call each,gofmt,$(MODULES),$(FMTCHECK_CMD))
	@'$(ROOT)/scripts/parallel.sh' '$(TEST_JOBS)' 'go vet' "$(VET_CMD)" $(TEST_ORDER)
	$(call each,golangci-lint,$(CODE_MODULES),$(LINT_CMD))
	@printf '\n==> services\n'
	@'$(ROOT)/scripts/services.sh'
	@'$(ROOT)/scripts/parallel.sh' '$(TEST_JOBS)' 'go test' '$(TEST_CMD)' $(TEST_ORDER)
	@printf '\nAll modules passed: %s\n' '$(MODULES)'

fmtcheck:
	$(call each,gofmt,$(MODULES),$(FMTCHECK_CMD))

fmt:
	$(call each,gofmt -w,$(MODULES),$(FMT_CMD))

vet:
	$(call each,go vet,$(CODE_MODULES),$(VET_CMD))

lint: $(GOLANGCI_LINT)
	$(call each,golangci-lint,$(CODE_MODULES),$(LINT_CMD))

gotest:
	@'$(ROOT)/scripts/parallel.sh' '$(TEST_JOBS)' 'go test' '$(TEST_CMD)' $(TEST_ORDER)

services:
	@'$(ROOT)/scripts/services.sh'

fuzz:
	$(call each,fuzz,$(CODE_MODULES),$(FUZZ_CMD))

demo:
	cd '$(ROOT)/cmd/fresh' && go run . demo

# Writes BENCHMARKS.md, its charts in docs/bench/ and the raw results as JSON in
# benchmarks/out/. For a quick look: cd benchmarks && go run ./cmd/benchreport -short
bench:
	cd '$(ROOT)/benchmarks' && go run ./cmd/benchreport -command 'make bench' -json out

clean:
	rm -rf '$(ROOT)/bin' '$(ROOT)/benchmarks/out'

# Built once from the version pinned in tools/go.mod; rebuilt only when that
# pin changes.
$(GOLANGCI_LINT): $(ROOT)/tools/go.mod $(ROOT)/tools/go.sum
	@printf '\n==> building %s from tools/go.mod\n' '$(GOLANGCI_LINT_PKG)'
	cd '$(ROOT)/tools' && go build -o '$@' '$(GOLANGCI_LINT_PKG)'
	@touch '$@'
