# aishell: run `make help` for the targets.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
ENV_DIR ?= /tmp/aishell-test-env

.PHONY: help build test test-unit lint env-install env-up env-up-rootless env-down env-purge demo bench bench-update

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/aishell
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/aishell ./cmd/aishell

test: ## unit + integration tests against a private containerd and buildkitd (installed, started and stopped here)
	test/env/run-tests.sh

test-unit: ## unit tests only, no daemons
	$(GO) test -short -count=1 ./...

lint: ## gofmt and go vet
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

env-install: ## install containerd, runc, buildkitd into the cache (~/.cache/aishell-test)
	test/env/install.sh

env-up: env-install ## start the private containerd + buildkitd and seed base images; prints the env to source
	AISHELL_TEST_DIR=$(ENV_DIR) test/env/up.sh
	AISHELL_TEST_DIR=$(ENV_DIR) test/env/seed.sh
	@echo "now: . $(ENV_DIR)/env"

env-up-rootless: env-up ## also start a rootless containerd + buildkitd for the user aishell-rootless, and seed it
	AISHELL_TEST_DIR=$(ENV_DIR) test/env/rootless-up.sh
	AISHELL_TEST_DIR=$(ENV_DIR)/rootless test/env/seed.sh

env-down: ## stop the private daemons, root and rootless (images are kept for the next env-up)
	AISHELL_TEST_DIR=$(ENV_DIR) test/env/down.sh

env-purge: ## stop the private daemons and delete their state
	AISHELL_TEST_DIR=$(ENV_DIR) test/env/down.sh --purge

demo: build env-up ## set up everything and run aishell's main job on the embedded defaults
	. $(ENV_DIR)/env && bin/aishell doctor
	. $(ENV_DIR)/env && bin/aishell build --with-claude --progress=plain
	. $(ENV_DIR)/env && bin/aishell exec -- sh -c 'echo "in the sandbox as $$(whoami) in $$(pwd)"; claude --version'
	@echo "now: . $(ENV_DIR)/env && bin/aishell claude   (needs ANTHROPIC_API_KEY or a ~/.claude login)"

bench: build env-up-rootless ## start latency vs runc/ctr/nerdctl (root and rootless), harness update vs the ancestor, disk, a bump for N projects, memory; writes BENCHMARKS.md
	. $(ENV_DIR)/env && AISHELL_BIN=bin/aishell $(GO) run ./bench all

bench-update: build env-up ## measure a harness update against the ancestor's baked image; writes BENCHMARKS.md
	. $(ENV_DIR)/env && AISHELL_BIN=bin/aishell $(GO) run ./bench update
