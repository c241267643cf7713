# zkjanitor developer entry points. Each target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup system-deps contrib-deps compat-deps test test-slow test-contrib test-history test-compat test-all demo bench bench-1m docs reference lint clean

setup: system-deps $(STAMP)

# Debian's ZooKeeper (with a JRE) for the real-server tests and demo; faketime makes old znodes.
system-deps:
	@pkgs=""; \
	[ -f /usr/share/java/zookeeper.jar ] || pkgs="$$pkgs zookeeper"; \
	command -v java >/dev/null || pkgs="$$pkgs default-jre-headless"; \
	command -v faketime >/dev/null || pkgs="$$pkgs faketime"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || pkgs="$$pkgs python3-venv"; \
	scripts/apt-install $$pkgs

# Debian's promtool and Prometheus (package prometheus) and node_exporter for tests/contrib (scripts/apt-install
# keeps their services from starting: the tests run their own, on 127.0.0.1).
contrib-deps:
	@pkgs=""; \
	{ command -v promtool && command -v prometheus; } >/dev/null || pkgs="$$pkgs prometheus"; \
	command -v prometheus-node-exporter >/dev/null || pkgs="$$pkgs prometheus-node-exporter"; \
	scripts/apt-install $$pkgs

# MIT Kerberos (a throwaway KDC for tests), the kerberos extra (gssapi, pykerberos: built against libkrb5-dev),
# setuptools and wheel (pip builds PySpark's metadata without isolation), and the released ZooKeeper versions (fetched once).
compat-deps: setup
	@pkgs=""; \
	for tool in /usr/sbin/krb5kdc:krb5-kdc /usr/sbin/kadmin.local:krb5-admin-server /usr/bin/kinit:krb5-user \
	            /usr/bin/krb5-config:libkrb5-dev; do \
		[ -x "$${tool%%:*}" ] || pkgs="$$pkgs $${tool##*:}"; \
	done; \
	command -v gcc >/dev/null || pkgs="$$pkgs gcc"; \
	scripts/apt-install $$pkgs
	@$(PY) -c 'import gssapi, kerberos, setuptools, wheel' 2>/dev/null || \
		$(PY) -m pip install -q -e '.[test,docs,kerberos]' setuptools wheel
	$(PY) -m zkjanitor.testing.zkversions

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,docs]'
	@touch $(STAMP)

# Markers that keep tests out of `make test`, each run by its own target; a new one is added here.
FAST_TESTS := not slow and not contrib and not history and not compat

test: setup
	$(PY) -m pytest -q -m "$(FAST_TESTS)"

test-slow: setup
	$(PY) -m pytest -q -m slow

# The alerting rules, the dashboard and the metrics files, with the real promtool, Prometheus and node_exporter.
test-contrib: setup contrib-deps
	$(PY) -m pytest -q -m contrib

# tests/history against a real Spark History Server: pyspark (pip, ~320 MB) and the real event logs of three
# local Spark jobs are built on first use and cached in ~/.cache/zkjanitor (ZKJANITOR_CACHE_DIR); Java 17 comes
# with system-deps (Debian's default JRE).
test-history: setup
	$(PY) -m pytest -q -m history

# A real KDC (ZooKeeper SASL GSSAPI, YARN SPNEGO) and ZooKeeper 3.4.6, 3.6.3, Debian's 3.8.0, 3.9.3 (tests/compat).
test-compat: compat-deps
	$(PY) -m pytest -q -m compat tests/compat

test-all: setup contrib-deps compat-deps
	$(PY) -m pytest -q

demo: setup
	$(PY) -m zkjanitor.testing.demo $(DEMO_ARGS)

# zkjanitor against its baselines at 10k, 40k and 100k sessions (about 3 minutes; docs/performance.md).
bench: setup
	$(PY) benchmarks/run.py

# 1,000,000 sessions, nearly all stale: peak RSS and wall time of scan (table), scan --format json and
# prune --apply against the issue's targets; no baselines (too slow at 1M). About 2 minutes here, ZooKeeper at
# -Xmx4g and ~2 GB in the temporary directory. benchmarks/run.py --million --sizes 10k,40k,100k runs both.
bench-1m: setup
	$(PY) benchmarks/run.py --million

# The operator docs (MkDocs) into site/; any warning fails the build.
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

# Regenerate docs/reference.md from the CLI's own --help (a test fails when it drifts).
reference: $(STAMP)
	$(PY) -m zkjanitor.cli.reference > docs/reference.md.tmp && mv docs/reference.md.tmp docs/reference.md

lint: setup
	$(VENV)/bin/ruff check zkjanitor tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .demo site *.egg-info
