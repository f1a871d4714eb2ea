# Two commands do everything on a fresh Debian 12 machine with Python 3.11:
#   make run   set up, then run the simulated lab end to end (heralder demo)
#   make test  set up, then lint and run the whole test suite (Qt offscreen)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= all
# Libraries PyQt6 loads on the offscreen platform that a minimal Debian 12 lacks.
QT_DEBS := libegl1 libgl1 libx11-6 libdbus-1-3 libfontconfig1 libfreetype6 libglib2.0-0 libxkbcommon0
export QT_QPA_PLATFORM ?= offscreen

.PHONY: run test lint bench figures setup syslibs clean

run: setup
	$(VENV)/bin/heralder demo

test: setup lint
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(VENV)/bin/heralder bench

figures: setup
	$(VENV)/bin/heralder figures --out figures

setup: syslibs $(STAMP)

# Install only the Debian packages that are missing, and say which.
syslibs:
	@if ! command -v dpkg-query >/dev/null; then echo "syslibs: not a Debian system, skipping"; exit 0; fi; \
	missing=""; \
	for p in $(QT_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "syslibs: all present ($(QT_DEBS))"; exit 0; fi; \
	echo "syslibs: installing$$missing"; \
	SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	$$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing

# Debian's python3 needs python3-venv for ensurepip; install it if the first try fails.
$(PY):
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "setup: installing python3-venv"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	# A third-party LCC25 driver the emulator is checked against (see pyproject's test extra).
	$(PY) -m pip install -q --no-deps 'instrumentkit==0.6.0'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) *.egg-info build dist .pytest_cache .ruff_cache
