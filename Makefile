# RALIS developer commands. The two a newcomer needs:
#   make serve   install the service into .venv and run it on the bundled default model
#   make test    install everything (CPU torch included) into .venv and run the test suite
# Everything installs through deploy/install.sh, the same script the Docker image uses.

PYTHON ?= python3
VENV ?= .venv
TOOLS_VENV ?= build/venv-tools
PYTEST_ARGS ?=
SERVE_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PYTHON

BIN := $(VENV)/bin
SERVICE_STAMP := $(VENV)/.ralis-service.stamp
DEV_STAMP := $(VENV)/.ralis-dev.stamp
TOOLS_STAMP := $(TOOLS_VENV)/.ralis-tools.stamp
K8S_MANIFESTS := $(filter-out deploy/k8s/kustomization.yaml,$(wildcard deploy/k8s/*.yaml))

.DEFAULT_GOAL := help
.PHONY: help serve test lint lint-deploy ci clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

serve: $(SERVICE_STAMP) ## install the service (no torch) and run it: RALIS_* variables configure it
	$(BIN)/ralis serve $(SERVE_ARGS)

test: $(DEV_STAMP) ## install CPU torch and the project with [train,dev], run the whole test suite
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(DEV_STAMP) ## ruff, mypy (strict) on every package, the import-direction check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy service/ ralis/ model/ training/
	$(BIN)/python .ci/check_imports.py --self-test
	$(BIN)/python .ci/check_imports.py

lint-deploy: $(TOOLS_STAMP) ## hadolint, shellcheck, compose config, kustomize + Kubernetes schemas, promtool
	@echo "validators: $$($(TOOLS_VENV)/bin/hadolint --version), shellcheck $$($(TOOLS_VENV)/bin/shellcheck --version | sed -n 's/^version: //p'), $$($(TOOLS_VENV)/bin/docker-compose version), kubectl $$($(TOOLS_VENV)/bin/kubectl version --client | sed -n 's/^Client Version: //p'), kubernetes-validate $$($(TOOLS_VENV)/bin/kubernetes-validate --version), $$(promtool --version 2>&1 | head -n 1)"
	$(TOOLS_VENV)/bin/hadolint --failure-threshold style Dockerfile
	$(TOOLS_VENV)/bin/shellcheck deploy/install.sh .ci/run .ci/*.sh
	$(TOOLS_VENV)/bin/docker-compose -f docker-compose.yml config --quiet
	$(TOOLS_VENV)/bin/docker-compose -f docker-compose.yml --profile gpu config --quiet
	$(TOOLS_VENV)/bin/kubernetes-validate --strict --kubernetes-version 1.30 $(K8S_MANIFESTS)
	$(TOOLS_VENV)/bin/kubernetes-validate --strict --kubernetes-version 1.37 $(K8S_MANIFESTS)
	$(TOOLS_VENV)/bin/kubectl kustomize deploy/k8s > $(TOOLS_VENV)/k8s-rendered.yaml
	$(TOOLS_VENV)/bin/kubernetes-validate --strict $(TOOLS_VENV)/k8s-rendered.yaml
	@command -v promtool >/dev/null || { echo "promtool missing: apt-get install prometheus" >&2; exit 1; }
	.ci/check_nginx.sh
	promtool check config deploy/prometheus/prometheus.yml
	promtool test rules deploy/prometheus/alerts_test.yml
	$(TOOLS_VENV)/bin/python .ci/check_dashboard.py --static deploy/grafana

ci: ## everything CI runs (.ci/run), from a clean checkout
	bash .ci/run

clean: ## remove the virtual environments, build outputs and caches
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache

$(SERVICE_STAMP): pyproject.toml deploy/install.sh
	deploy/install.sh service $(VENV) -e .
	@touch $@

$(DEV_STAMP): pyproject.toml deploy/install.sh
	deploy/install.sh dev $(VENV) .
	@touch $@ $(SERVICE_STAMP)

$(TOOLS_STAMP): .ci/requirements-lint-deploy.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet -r .ci/requirements-lint-deploy.txt
	@touch $@
